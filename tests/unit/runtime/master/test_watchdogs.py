"""Watchdogs after ready: the worker heartbeat (`worker_timeout`) catches a blocked event:
the cases with no process started (the others are in
tests/process/runtime/master/test_watchdogs.py)."""

from __future__ import annotations

import pytest

from runtime.process.cluster_options import ClusterOptions


@pytest.mark.parametrize(
    ("env", "given", "effective"),
    [("prod", None, 30_000), ("local", None, 0), ("unittest", None, 0), ("local", 5000, 5000),
     ("prod", 0, 0)],
)  # fmt: skip
def test_default_timeout_is_off_where_a_debugger_may_pause_a_worker(
    tmp_path, env: str, given: int | None, effective: int
) -> None:
    raw = {"base_dir": str(tmp_path), "title": "t", "env": env, "worker_timeout": given}
    assert ClusterOptions.from_dict(raw).heartbeat_timeout == effective
