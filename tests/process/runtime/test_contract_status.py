"""The typed replies of the contract (runtime/contract/control.py) are what a real master
sends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_type_hints

from runtime.contract import control
from tests.cli_helpers import make_app, status_json


def test_a_real_status_reply_has_the_typed_keys(
    tmp_path: Path, started: Callable[..., str], env: dict[str, str], title: str
) -> None:
    started(make_app(tmp_path / "app", name="typed"), title, "--workers=1")
    cluster = status_json(title, env)
    assert set(get_type_hints(control.StatusReply)) <= set(cluster)
    for row in cluster["processes"]:
        assert set(get_type_hints(control.ProcessRow)) <= set(row)
