"""Log rotation before a daemon start: rename, never truncate or delete."""

from __future__ import annotations

import time
from pathlib import Path

from eggscripts.launching import logrotate

NOW = time.mktime((2026, 3, 4, 5, 6, 7, 0, 0, -1))


def test_non_empty_log_is_renamed_with_a_timestamp(tmp_path: Path) -> None:
    log = tmp_path / "master-stdout.log"
    log.write_text("old\n")
    target = logrotate.rotate(str(log), NOW)
    assert target == f"{log}.20260304.050607"
    assert Path(target).read_text() == "old\n"
    assert not log.exists()


def test_taken_names_get_a_numeric_suffix(tmp_path: Path) -> None:
    log = tmp_path / "err.log"
    for n in range(3):
        log.write_text(f"run {n}\n")
        logrotate.rotate(str(log), NOW)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["err.log.20260304.050607", "err.log.20260304.050607.1",
                     "err.log.20260304.050607.2"]  # fmt: skip
    assert (tmp_path / "err.log.20260304.050607.2").read_text() == "run 2\n"


def test_empty_or_missing_logs_stay_and_parents_are_created(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert logrotate.rotate(str(empty), NOW) is None
    assert empty.exists()
    nested = tmp_path / "a" / "b" / "new.log"
    assert logrotate.rotate(str(nested), NOW) is None
    assert nested.parent.is_dir() and not nested.exists()
