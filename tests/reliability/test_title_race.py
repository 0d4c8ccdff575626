"""Two starts with one title at the same instant (issue 9, defect 5): exactly one cluster.

Before the title lock, on one port both starts failed (the loser's cleanup swept the
winner's processes by title) and on two ports both succeeded, two clusters sharing a title
that one `stop` would stop together.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.cli_helpers import EGGSCRIPTS, cli_env, make_app, run_cli
from tests.clusters import Cluster
from tests.helpers import cluster_processes, free_port, request, wait_until


def _start(app, title: str, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EGGSCRIPTS, "start", "--daemon", f"--title={title}", f"--port={port}",
         "--hostname=127.0.0.1", "--workers=1", "--env=prod", str(app)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("ports", ["same", "different"])
def test_two_daemon_starts_at_once_give_exactly_one_cluster(tmp_path, title, port, ports):
    app = make_app(tmp_path / "app", name="race")
    env = cli_env(tmp_path)
    second_port = port if ports == "same" else free_port()
    started = time.monotonic()
    first, second = _start(app, title, port, env), _start(app, title, second_port, env)
    results = [(p, *p.communicate(timeout=60)) for p in (first, second)]
    elapsed = time.monotonic() - started
    try:
        codes = sorted(p.returncode for p, _, _ in results)
        assert codes == [0, 1], results
        loser = next(r for r in results if r[0].returncode == 1)
        lines = [line for line in (loser[1] + loser[2]).splitlines() if line.strip()]
        assert len(lines) == 1, lines  # one line, nothing launched, nothing cleaned up
        assert f"a cluster titled {title} is already running or starting" in lines[0]
        found = cluster_processes(title)
        assert (len(found["master"]), len(found["agent"]), len(found["app"])) == (1, 1, 1)
        winner_port = port if results[0][0].returncode == 0 else second_port
        assert request(winner_port, "/").status == 404  # the app has no routes: it serves
    finally:
        stop = run_cli("stop", f"--title={title}", env=env)
    assert stop.returncode == 0, stop
    wait_until(lambda: not any(cluster_processes(title).values()))
    print(f"figures: {ports} ports, exit codes {codes}, both answered in {elapsed:.2f}s")


def test_a_second_master_with_the_same_title_exits_1_in_one_line(tmp_path, title, port):
    """The runtime holds the lock itself too (a master started without the CLI)."""
    app = make_app(tmp_path / "app", name="race")
    with Cluster(app, title, port, workers=1):
        second = Cluster(app, title, free_port(), workers=1).start(wait=False)
        code, _, err = second.wait(timeout=20)
        assert code == 1
        assert err.strip().splitlines() == [
            f"[eggscripts] a cluster titled {title} is already running or starting (pid "
            f"{cluster_processes(title)['master'][0].pid}); stop it first: "
            f"eggscripts stop --title={title}"
        ]
        assert len(cluster_processes(title)["master"]) == 1


@pytest.mark.long
def test_same_title_race_repeated(tmp_path, port) -> None:
    """Eight rounds of three starts at once (one title, three ports): one winner each."""
    from tests.conftest import new_title

    app = make_app(tmp_path / "app", name="race")
    env = cli_env(tmp_path)
    winners = []
    for round_ in range(8):
        title = new_title(f"round{round_}")
        procs = [_start(app, title, p, env) for p in (port, free_port(), free_port())]
        codes = sorted(p.wait(timeout=60) for p in procs)
        for p in procs:
            p.communicate()
        try:
            assert codes == [0, 1, 1], (round_, codes)
            assert len(cluster_processes(title)["master"]) == 1
            winners.append(codes.count(0))
        finally:
            assert run_cli("stop", f"--title={title}", env=env).returncode == 0
        wait_until(lambda t=title: not any(cluster_processes(t).values()))
    print(f"figures: {len(winners)} rounds, exactly one cluster in each")
