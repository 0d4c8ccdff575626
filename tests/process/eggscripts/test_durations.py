"""Durations with units (`30s`, `500ms`, `2m`) on every duration option, and the refusal of a
bare number below 1000 for a millisecond option (docs/CLI.md, "Durations")."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.contract import durations
from tests.cli_helpers import make_app, run_cli


@pytest.mark.parametrize(
    ("value", "unit", "kind", "expected"),
    [
        ("30s", "ms", int, 30_000),
        ("500ms", "ms", int, 500),
        ("2m", "s", int, 120),
        ("1h", "s", int, 3600),
        ("1.5", "s", float, 1.5),
        ("250ms", "s", float, 0.25),
        ("0", "ms", int, 0),
        ("5000", "ms", int, 5000),
        (5000, "ms", int, 5000),  # a number from pyproject.toml
    ],
)
def test_accepted(value: object, unit: str, kind: type, expected: float) -> None:
    assert durations.in_unit(value, unit, kind) == expected


@pytest.mark.parametrize(
    ("value", "unit", "kind", "words"),
    [
        ("30", "ms", int, "a bare 30 means 30 ms"),
        (999, "ms", int, "a bare 999 means 999 ms"),
        ("1500ms", "s", int, "not a whole number of seconds"),
        ("ten", "ms", int, "is not a duration"),
        ("-1s", "ms", int, "is not a duration"),
        (True, "ms", int, "expected a duration"),
    ],
)
def test_refused(value: object, unit: str, kind: type, words: str) -> None:
    with pytest.raises(durations.DurationError, match=words):
        durations.in_unit(value, unit, kind)


def test_bare_gunicorn_timeout_refused_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    app = make_app(tmp_path / "app")
    result = run_cli("start", "--daemon", "--timeout", "30", str(app), env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "a bare 30 means 30 ms" in last and "30s" in last
    assert "Traceback" not in result.stderr


def test_units_reach_a_real_cluster(
    tmp_path: Path, env: dict[str, str], title: str, started: object, port: int
) -> None:
    app = make_app(tmp_path / "app")
    started(  # type: ignore[operator]
        app, title, "--timeout=1m", "--worker-timeout=20s", "--shutdown-delay=200ms",
        "--grace-period=1m", "--keep-alive=1500ms", port=port,
    )  # fmt: skip
    status = run_cli("status", f"--title={title}", "--json", env=env)
    assert status.returncode == 0, status.stderr
    stop = run_cli("stop", f"--title={title}", "--timeout=10s", env=env)
    assert stop.returncode == 0, stop.stderr


def test_systemd_unit_writes_short_millisecond_values_with_their_unit(
    tmp_path: Path, env: dict[str, str]
) -> None:
    app = make_app(tmp_path / "app")
    result = run_cli("systemd", "--shutdown-delay=500ms", "--worker-timeout=2s", str(app), env=env)
    assert result.returncode == 0, result.stderr
    assert " --shutdown-delay=500ms " in result.stdout  # a bare 500 would be refused
    assert " --worker-timeout=2000 " in result.stdout
