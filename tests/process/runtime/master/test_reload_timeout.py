"""A reload that times out kills the child it was waiting for, and the pool goes back to
exactly the target: real processes, the real CLI (`reload --timeout`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli_helpers import run_cli, status_json
from tests.helpers import free_port, request, wait_until
from tests.process.eggscripts.test_reload_cli import switch
from tests.process.runtime.master.test_reload import release


def apps(title: str, env: dict[str, str]) -> list[dict[str, Any]]:
    return [p for p in status_json(title, env)["processes"] if p["role"] == "app"]


def test_a_reload_whose_canary_hangs_at_boot_kills_it_and_the_next_reload_ends_at_target(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    link = tmp_path / "current"
    link.symlink_to(release(tmp_path, "r1", "one"))
    port = free_port()
    started(link, title, port=port)
    hung = release(tmp_path, "r2", "two")
    (hung / "app" / "router.py").write_text(
        "import time\n\ndef router(app):\n    time.sleep(600)\n"
    )  # the app workers hang while loading; the agent does not load the router
    switch(link, hung)
    result = run_cli("reload", f"--title={title}", "--timeout=4000", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--timeout" in result.stderr and "old workers keep serving" in result.stderr
    # The canary is killed with the failed reload: two serving workers, nobody booting.
    wait_until(lambda: [p["state"] for p in apps(title, env)] == ["serving"] * 2, timeout=10)
    assert {request(port, "/").body for _ in range(5)} == {b"one"}

    switch(link, release(tmp_path, "r3", "three"))
    result = run_cli("reload", f"--title={title}", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: len(apps(title, env)) == 2, timeout=10)
    assert [p["state"] for p in apps(title, env)] == ["serving"] * 2
    assert {request(port, "/").body for _ in range(5)} == {b"three"}
