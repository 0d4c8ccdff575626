"""Bounded loopback load for the reliability cases: a few client threads, each request
on a fresh connection (so a refused connection shows up), for a fixed time."""

from __future__ import annotations

import dataclasses
import http.client
import threading
import time


@dataclasses.dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = dataclasses.field(default_factory=dict)


class Load:
    def __init__(self, port: int, path: str = "/", clients: int = 4) -> None:
        self.port, self.path, self.clients = port, path, clients
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _client(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", self.path)
                conn.getresponse().read()
                outcome = None
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
            finally:
                conn.close()
            with self._lock:
                if outcome is None:
                    self.result.ok += 1
                else:
                    self.result.failed += 1
                    self.result.errors[outcome] = self.result.errors.get(outcome, 0) + 1
                    time.sleep(0.01)
