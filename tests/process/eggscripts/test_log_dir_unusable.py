"""A foreground start whose log directory cannot be used fails in one line, as
a daemon start does; it used to run on with no log files at all."""

from __future__ import annotations

from tests.cli_helpers import cli_env, make_app, run_cli
from tests.helpers import cluster_processes


def test_foreground_start_with_unusable_log_dir_fails_in_one_line(tmp_path, title, port):
    app = make_app(tmp_path / "app", name="shop")
    # Outside local/unittest the logs go to ~/logs/<title>/ (not the app's default title);
    # HOME is tmp_path.
    (tmp_path / "logs").write_text("a file where the log directory should be\n")
    result = run_cli(
        "start", f"--title={title}", f"--port={port}", "--hostname=127.0.0.1", "--workers=1",
        str(app), env=cli_env(tmp_path), timeout=30,
    )  # fmt: skip
    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [
        f"[eggscripts] cannot write logs to {tmp_path}/logs/{title}: File exists"
    ]
    assert not any(cluster_processes(title).values())
