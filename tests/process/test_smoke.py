"""The start/stop smoke test that noxfile.py runs on every supported Python: the example
app started as a daemon by the installed console script, one request served, `status`, then
`stop` leaves nothing behind. The whole suite proves the details on one interpreter."""

from __future__ import annotations

from tests.cli_helpers import run_cli, status_json
from tests.clusters import start_daemon
from tests.helpers import SHOWCASE, cluster_processes, request


def test_start_serve_status_stop(env: dict[str, str], title: str, port: int) -> None:
    start = start_daemon(str(SHOWCASE), title=title, port=port, env=env)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        assert f"{title} started on http://127.0.0.1:{port}" in start.stdout
        response = request(port, "/")
        assert response.status == 200, response.body
        cluster = status_json(title, env)
        assert (cluster["state"], cluster["workers"]) == ("ready", 2), cluster
    finally:
        stop = run_cli("stop", f"--title={title}", env=env)
    assert stop.returncode == 0, stop.stderr
    assert not any(cluster_processes(title).values())
    assert run_cli("status", f"--title={title}", env=env).returncode == 3
