"""A worker out of file descriptors (issue 9): it logs that once, keeps its connections,
is not retired as faulty, and accepts again once connections close."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from tests.cli_helpers import make_app
from tests.clusters import Cluster
from tests.helpers import try_request, wait_until

LOW_LIMIT = """import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
"""


def test_running_out_of_fds_is_logged_once_and_survived(
    tmp_path: Path, title: str, port: int
) -> None:
    app = make_app(tmp_path / "app", name="fdapp")
    (app / "lowfd.py").write_text(LOW_LIMIT)
    with Cluster(app, title, port, workers=1, env="local", require=[str(app / "lowfd.py")]) as c:
        worker = c.processes()["app"][0].pid
        conns = []
        try:
            for _ in range(150):  # far more than the worker can hold open
                with contextlib.suppress(OSError):  # uvloop closes the ones it cannot take
                    conns.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            log = app / "logs" / title / "fdapp-web.log"
            wait_until(lambda: "out of file descriptors" in log.read_text(), timeout=5)
        finally:
            for conn in conns:
                conn.close()
        got = wait_until(lambda: try_request(port, "/", timeout=2), timeout=10)
        assert got.status == 404  # serving again once connections closed
        assert [p.pid for p in c.processes()["app"]] == [worker]  # never retired
        assert log.read_text().count("out of file descriptors") == 1
