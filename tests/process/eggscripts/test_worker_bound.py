"""One bound for the number of app workers, on `start --workers` and on `scale`, with one
message (runtime/contract/capacity.py); it used to be the machine's bound on start but
1024 on scale, so `scale` could fork what `start` refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.contract import capacity
from tests.cli_helpers import make_app, run_cli, status_json


def test_start_and_scale_refuse_the_same_count_with_the_same_line(
    tmp_path: Path, started: Callable[..., str], env: dict[str, str], title: str
) -> None:
    limit, _ = capacity.max_workers()
    message = capacity.workers_problem(limit + 1)
    assert message is not None and f"at most {limit}" in message
    app = make_app(tmp_path / "app", name="bounded")
    refused = run_cli("start", "--daemon", f"--title={title}x", f"--workers={limit + 1}",
                      str(app), env=env)  # fmt: skip
    assert refused.returncode == 2
    assert message in " ".join(refused.stderr.split())
    started(app, title, "--workers=1")
    # An absolute count is refused by the CLI already, a difference by the master: the
    # same bound, the same line.
    for count in (str(limit + 1), f"+{limit}"):
        scaled = run_cli("scale", f"--title={title}", count, env=env)
        assert scaled.returncode == 2, scaled.stdout + scaled.stderr
        assert scaled.stderr.splitlines()[-1].endswith(f": {message}")
    assert status_json(title, env)["workers"] == 1
    assert capacity.workers_problem(limit) is None
    assert capacity.workers_problem(0) == "a cluster needs at least 1 app worker"
