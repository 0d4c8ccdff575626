"""Daemon starts as operators run them (issue 13): per-title default logs, Python warnings
that never fail a deploy, and the grace-period check refusing a stop that cannot fit."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import cli_env, make_app, run_cli
from tests.clusters import start_daemon
from tests.conftest import new_title
from tests.helpers import free_port

WARNING_BOOT = (
    "import warnings\n\n"
    "class Boot:\n    def __init__(self, app):\n        pass\n\n"
    "    def did_load(self):\n"
    "        warnings.warn('this API is deprecated', UserWarning, stacklevel=1)\n"
)


def _start(app: Path, home: Path, title: str, *args: str) -> tuple[int, str, str]:
    result = start_daemon(
        *args, str(app), title=title, port=free_port(), env=cli_env(home), workers=1, timeout=40
    )
    return result.returncode, result.stdout, result.stderr


def test_two_apps_get_their_own_default_logs_and_warnings_do_not_fail(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    first = make_app(tmp_path / "one", name="one")
    (first / "app.py").write_text(WARNING_BOOT)
    second = make_app(tmp_path / "two", name="two")
    titles = [new_title("prod-one"), new_title("prod-two")]
    try:
        for app, title in zip((first, second), titles, strict=True):
            rc, out, err = _start(app, home, title)
            assert rc == 0, err
            assert f"{home}/logs/{title}/master-stdout.log" in out
    finally:
        for title in titles:
            run_cli("stop", f"--title={title}", "--timeout=5000", env=cli_env(home))
    for title in titles:
        logs = home / "logs" / title
        assert " started on " in (logs / "master-stdout.log").read_text()
        assert (logs / "master-stderr.log").read_text() == ""
    web = (home / "logs" / titles[0] / "one-web.log").read_text()
    assert "this API is deprecated" in web  # captured into the app's log instead


def test_a_stop_that_cannot_fit_the_grace_period_is_refused(tmp_path: Path, title: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    app = make_app(tmp_path / "app", name="graceful")
    result = run_cli(
        "start", f"--title={title}", f"--port={free_port()}", "--hostname=127.0.0.1",
        "--shutdown-delay=25000", "--grace-period=30", str(app), env=cli_env(home), timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--shutdown-delay 25000 ms" in lines[0] and "--grace-period 30 s" in lines[0]
