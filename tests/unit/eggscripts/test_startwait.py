"""Waiting for a daemon's readiness (eggscripts/launching/startwait.py): output on the
stderr log fails the start, with the master's own exit status when it says one."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

from eggscripts.launching import startwait
from eggscripts.launching.progress import Progress
from runtime.contract import readychannel
from runtime.contract.framing import FrameReader


def _wait_with(tmp_path: Path, frames: list[tuple[str, dict]], delay: float) -> startwait.Outcome:
    """The stderr log grows at once; `frames` reach the ready channel `delay` s later."""
    log = tmp_path / "stderr.log"
    log.write_text("")
    watch = startwait.StderrWatch(str(log))
    read_fd, write_fd = os.pipe()
    log.write_text("Traceback ... RuntimeError: database is down\n")

    def master() -> None:
        time.sleep(delay)
        for action, data in frames:
            readychannel.write_frame(write_fd, action, data)
        os.close(write_fd)

    thread = threading.Thread(target=master)
    thread.start()
    reader = FrameReader(read_fd)
    try:
        progress = Progress("shop", 2, stream=io.StringIO())
        return startwait.watch(reader, progress, 30_000, watch, startwait.Outcome())
    finally:
        thread.join()
        reader.close()


def test_the_master_s_startup_error_after_stderr_output_gives_its_exit_status(
    tmp_path: Path,
) -> None:
    error = {"message": "app worker failed: main.py:19: RuntimeError: database is down", "code": 4}
    outcome = _wait_with(tmp_path, [("startup-error", error)], delay=0.1)
    assert outcome.exit_code == 4 and outcome.reason == error["message"]


def test_stderr_output_alone_fails_the_start_with_status_1(tmp_path: Path) -> None:
    outcome = _wait_with(tmp_path, [], delay=startwait.ERROR_GRACE + 0.3)
    assert outcome.exit_code == 1 and outcome.reason is not None
    assert "wrote to its stderr log" in outcome.reason


def test_stderr_output_then_ready_still_fails_the_start(tmp_path: Path) -> None:
    outcome = _wait_with(tmp_path, [("egg-ready", {"pid": 1})], delay=0.05)
    assert outcome.ready is None and outcome.exit_code == 1
    assert outcome.reason is not None and "wrote to its stderr log" in outcome.reason
