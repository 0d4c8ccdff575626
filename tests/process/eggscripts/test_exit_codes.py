"""A failed start exits 3, 4 or 5, in the foreground (the master's own status)
and with --daemon (the master sends its status with the error), so CI scripts can branch
on what failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import cli_env, everything, run_cli
from tests.fixtures.apptree import write_tree
from tests.helpers import wait_until

CASES = {
    # A worker dies before app-start without saying why: 3, an app worker failed to boot.
    3: {"app.py": "import os\n\nclass Boot:\n    def __init__(self, app):\n        pass\n\n"
                  "    def did_load(self):\n        os._exit(7)\n"},
    # The app's code raises while loading: 4, the app failed to load.
    4: {"app/router.py": "def router(app):\n    raise ValueError('broken router')\n"},
    # The agent dies before agent-start without saying why: 5, the agent failed to start.
    5: {"agent.py": "import os\n\nclass Boot:\n    def __init__(self, agent):\n        pass\n\n"
                    "    def did_load(self):\n        os._exit(9)\n"},
}  # fmt: skip


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
@pytest.mark.parametrize("code", sorted(CASES))
def test_failed_start_exit_status(
    code: int, daemon: bool, tmp_path: Path, title: str, port: int
) -> None:
    app = write_tree(tmp_path / "app", {"pyproject.toml": "", **CASES[code]})
    args = ["start", f"--title={title}", f"--port={port}", "--workers=1", "--env=prod"]
    args += ["--hostname=127.0.0.1", "--daemon"] if daemon else ["--hostname=127.0.0.1"]
    result = run_cli(*args, str(app), env=cli_env(tmp_path), timeout=60)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    wait_until(lambda: everything(title) == [], timeout=10)
