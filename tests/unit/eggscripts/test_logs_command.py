"""`eggscripts logs` (issue 13): finds a running cluster's files wherever they are,: the
cases with no process started (the others are in
tests/process/eggscripts/test_logs_command.py)."""

from __future__ import annotations

from pathlib import Path

from eggscripts.logfiles import logtail


def rotate_while_writing(log: Path, late: str) -> None:
    """What logrotate does to a writer: `before` written, the file moved to `<log>.1`,
    `late` written through the writer's still-open handle, then `after` in a new file."""
    with log.open("a") as writer:
        writer.write("before\n")
        writer.flush()
        log.rename(log.with_name(log.name + ".1"))
        writer.write(late)
        writer.flush()
    log.write_text("after\n")


def test_follower_sees_appends_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("old\n")
    follower = logtail.Follower([str(log), str(tmp_path / "later.log")])
    assert follower.poll() == []
    with log.open("a") as fh:
        fh.write("one\ntw")
    assert follower.poll() == [(str(log), ["one"])]
    with log.open("a") as fh:
        fh.write("o\n")
    assert follower.poll() == [(str(log), ["two"])]
    log.rename(tmp_path / "a.log.1")
    log.write_text("fresh\n")
    (tmp_path / "later.log").write_text("appeared\n")
    assert follower.poll() == [(str(log), ["fresh"]), (str(tmp_path / "later.log"), ["appeared"])]
    assert logtail.last_lines(str(log), 5) == ["fresh"]


def test_follower_reads_the_rotated_file_to_its_end_first(tmp_path: Path) -> None:
    """logrotate moves the file while its writer still holds it: what the writer adds
    before it reopens is in the old file and must be shown before the new file's lines."""
    log = tmp_path / "a.log"
    log.write_text("")
    follower = logtail.Follower([str(log)])
    rotate_while_writing(log, "just before the reopen\nhalf")
    assert follower.poll() == [(str(log), ["before", "just before the reopen", "half", "after"])]
    follower.close()
