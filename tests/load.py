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


def keepalive(port: int, seconds: float, connections: int = 8) -> dict[str, float]:
    """`connections` keep-alive connections, each sending its next GET as soon as the last
    answer arrived, for `seconds` (the load a proxy puts on a server, as `wrk -t1 -c8`
    does, without needing wrk on the machine): req/s, p99 ms, requests done and failed.

    Counted as wrk counts: a failed request is a status >= 400 or a socket error (refused,
    reset, closed before the answer, timed out); the connection is then opened anew."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        errors = 0
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors += 1
                else:
                    mine.append(time.monotonic() - began)
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
        conn.close()
        with lock:
            latencies.extend(mine)
            failed[0] += errors

    began = time.monotonic()
    threads = [threading.Thread(target=run, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 15)
    took = time.monotonic() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    done = len(latencies) + failed[0]
    return {"rps": done / took, "p99_ms": p99 * 1000, "done": done, "failed": failed[0]}
