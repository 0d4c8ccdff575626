"""Bounded loopback load for behaviour tests: a few threads, each sending requests on fresh
connections (the hard case for a worker swap: every request needs an `accept`), counting
what succeeded and what failed. Stops by itself after `limit` seconds."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter


class Load:
    def __init__(self, port: int, path: str = "/", threads: int = 4, limit: float = 60.0) -> None:
        self.port, self.path, self.limit = port, path, limit
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def ok(self) -> int:
        return self.counts["ok"]

    @property
    def failed(self) -> int:
        return sum(n for k, n in self.counts.items() if k != "ok")

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", self.path, headers={"Connection": "close"})
                response = conn.getresponse()
                response.read()
                outcome = "ok" if response.status < 400 else f"status {response.status}"
            except Exception as exc:  # every failure is a finding: keep its kind
                outcome = type(exc).__name__
                with self._lock:
                    self.errors.append(repr(exc))
            finally:
                conn.close()
            with self._lock:
                self.counts[outcome] += 1


def wrk(port: int, seconds: int, connections: int = 8) -> dict[str, float]:
    """A bounded `wrk -t1` run against 127.0.0.1:port (keep-alive connections, the load
    a proxy puts on a server): req/s, p99 ms, requests done and failed (non-2xx + socket
    errors), parsed by the benchmark's own parser (bench/measure.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "measure.py"
    spec = importlib.util.spec_from_file_location("bench_measure", path)
    assert spec is not None and spec.loader is not None
    measure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(measure)
    result: dict[str, float] = measure.wrk(port, seconds, 1, connections)
    return result
