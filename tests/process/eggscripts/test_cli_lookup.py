"""One CLI (issue 20, items 10-12): every command finds clusters by their resolved BASE_DIR,
`logs` never shows another app's logs, and two clusters of one app directory keep their
app logs apart."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.cli_helpers import run_cli
from tests.conftest import new_title
from tests.fixtures.apptree import write_tree
from tests.helpers import free_port, request, wait_until

APP = {
    "pyproject.toml": '[project]\nname = "looked"\n',
    "app/router.py": "def router(app):\n    app.router.get('/', app.controller.home.index)\n",
    "app/controller/home.py": (
        "async def index(ctx):\n    ctx.logger.info('hello from %s', ctx.query.get('who'))\n"
        "    ctx.body = 'ok'\n"
    ),
}


def test_every_command_finds_the_clusters_started_from_base_dir(
    tmp_path: Path, env: dict[str, str], started: Callable[..., str]
) -> None:
    app = write_tree(tmp_path / "app", APP)
    link = tmp_path / "current"
    link.symlink_to(app)
    first = started(app, new_title("lookup-a"), "--workers=1")
    outside = {"env": env, "cwd": tmp_path}  # not an app: the default title cannot be used

    status = run_cli("status", "--json", str(link), **outside)
    assert status.returncode == 0, status.stderr
    assert f'"title": "{first}"' in status.stdout
    logs = run_cli("logs", "-n", "0", str(app), **outside)
    assert logs.returncode == 0, logs.stderr
    assert f"/logs/{first}/master-stdout.log <==" in logs.stdout
    scaled = run_cli("scale", "2", str(app), **outside)
    assert scaled.returncode == 0, scaled.stderr
    assert f"scaled {first} from 1 to 2" in scaled.stdout
    reloaded = run_cli("reload", str(link), **outside, timeout=60)
    assert reloaded.returncode == 0, reloaded.stderr
    assert f"{first} reloaded" in reloaded.stdout

    second = started(app, new_title("lookup-b"), "--workers=1")
    both = run_cli("status", "--json", str(app), **outside)
    assert both.returncode == 0, both.stderr
    assert f'"title": "{first}"' in both.stdout and f'"title": "{second}"' in both.stdout
    ambiguous = run_cli("reload", str(app), **outside)
    assert ambiguous.returncode == 2
    assert f"2 clusters run from {app}: " in ambiguous.stderr
    assert first in ambiguous.stderr and second in ambiguous.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_cli("status", str(empty), **outside)
    assert nothing.returncode == 3
    assert f"no running cluster found for {empty} (running: " in nothing.stderr
    assert run_cli("scale", "1", str(empty), **outside).returncode == 3


def test_two_titles_of_one_app_log_apart_and_a_typo_shows_nothing(
    tmp_path: Path, env: dict[str, str], started: Callable[..., str]
) -> None:
    app = write_tree(tmp_path / "app", APP)
    home = Path(env["HOME"])
    ports = free_port(), free_port()
    titles = [
        started(app, new_title(f"apart-{i}"), "--workers=1", port=port)
        for i, port in enumerate(ports)
    ]
    for port, who in zip(ports, ("first", "second"), strict=True):
        assert request(port, f"/?who={who}").status == 200
    own = [home / "logs" / title / "looked-web.log" for title in titles]
    wait_until(lambda: all(path.exists() and "hello" in path.read_text() for path in own))
    assert "hello from first" in own[0].read_text()
    assert "hello from second" not in own[0].read_text()
    assert "hello from second" in own[1].read_text()
    assert not os.path.exists(home / "logs" / "looked")

    # A title that neither runs nor has logs: exit 1, the running titles listed, even
    # from inside the app directory (whose own logs are not another title's).
    typo = run_cli("logs", f"--title={titles[0]}x", env=env, cwd=app)
    assert typo.returncode == 1
    assert typo.stdout == ""
    assert f"no log files found for {titles[0]}x" in typo.stderr
    assert titles[0] in typo.stderr.split("running: ")[1]
