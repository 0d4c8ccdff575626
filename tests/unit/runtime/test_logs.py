"""Logs where operators want them: `logger.dir` moves every file of the cluster,
the default follows egg's `app_info.root`, JSON lines parse, SIGUSR1 reopens moved files,
warnings land in the logs, and records wait until the directory is known."""

from __future__ import annotations

import json
import logging
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.process import log_setup as logs
from runtime.process.log_handlers import LogFile
from tests.fixtures.apptree import write_tree


@pytest.fixture(name="home")  # also tests/process/runtime/test_logs.py
def home_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in saved:
            handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_records_wait_for_the_directory(tmp_path: Path) -> None:
    log = logs.setup_logging("master", str(tmp_path), "x", directory=None, env="local")
    log.info("before the directory is known")
    assert not (tmp_path / "logs").exists()
    target = tmp_path / "elsewhere"
    assert logs.redirect(str(target)) == str(target)
    log.error("after")
    text = (target / "master.log").read_text()
    assert "before the directory is known" in text and "after" in text
    assert "after" in (target / "common-error.log").read_text()


def test_pending_records_go_to_the_default_dir_at_exit(tmp_path: Path) -> None:
    log = logs.setup_logging("agent", str(tmp_path), "x", env="unittest")
    log.warning("boot failed before the config was read")
    logging.getLogger().handlers[-1].close()  # what logging.shutdown() does at exit
    text = (tmp_path / "logs" / "x" / "egg-agent.log").read_text()
    assert "boot failed before the config was read" in text


def test_warnings_are_captured(tmp_path: Path) -> None:
    logs.setup_logging("app", str(tmp_path), "x", directory=str(tmp_path), worker_id=3)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", UserWarning, stacklevel=1)
    text = (tmp_path / "x-web.log").read_text()
    assert "[app_worker#3]" in text and "deprecated thing" in text


def test_errors_go_to_stderr_until_ready(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = logs.setup_logging(
        "app", str(tmp_path), "x", directory=str(tmp_path), errors_to_stderr=True
    )
    log.error("boot trouble")
    log.error("told through the master", extra=logs.NO_STDERR)
    logs.ready()
    log.error("after ready")
    err = capsys.readouterr().err
    assert "boot trouble" in err
    assert "told through the master" not in err and "after ready" not in err


def test_json_lines_carry_the_exception(tmp_path: Path) -> None:
    log = logs.setup_logging(
        "agent", str(tmp_path), "x", directory=str(tmp_path), log_format="json"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    entry = json.loads((tmp_path / "egg-agent.log").read_text().splitlines()[-1])
    assert entry["level"] == "ERROR" and entry["role"] == "agent" and entry["worker"] is None
    assert entry["message"] == "failed" and "ValueError: boom" in entry["exception"]
    assert entry["pid"] == os.getpid() and entry["logger"] == "eggscripts.agent"


def test_config_dirs(tmp_path: Path, home: Path) -> None:
    base = str(tmp_path)
    assert logs.config_dirs({}, base, "a", "prod") == {
        "log_dir": str(home / "logs" / "a"),
        "run_dir": os.path.join(base, "run"),
    }
    assert logs.config_dirs({}, base, "a", "local")["log_dir"] == os.path.join(base, "logs", "a")
    got = logs.config_dirs({"logger": {"dir": "/var/log/a"}, "rundir": "state"}, base, "a", "prod")
    assert got == {"log_dir": "/var/log/a", "run_dir": os.path.join(base, "state")}


def test_a_full_disk_is_one_warning_not_a_crash(capsys: pytest.CaptureFixture) -> None:
    handler = LogFile("/dev/full")  # every write fails with ENOSPC
    handler.setFormatter(logging.Formatter("%(message)s"))
    for n in range(3):
        handler.handle(logging.makeLogRecord({"msg": f"line {n}", "levelno": logging.INFO}))
    handler.stream = None  # nothing to flush at close
    handler.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("[eggscripts] pid ")
    assert "cannot write /dev/full: No space left on device (errno 28)" in err[0]


def test_rundir_and_logger_dir_defaults_in_the_config(tmp_path: Path, home: Path) -> None:
    from tests.fixtures.apptree import boot

    app = write_tree(
        tmp_path / "app",
        {"pyproject.toml": '[project]\nname = "r"\n', "config/config.prod.py": (
            "config = {'rundir': 'state/run'}\n")},
    )  # fmt: skip
    booted = boot(app, env="prod")
    assert booted.config["logger"]["dir"] == str(home / "logs" / "r")  # egg's app_info.root
    dumped = app / "state" / "run" / "application_config.json"
    assert dumped.exists() and stat.S_IMODE(dumped.stat().st_mode) == 0o600
    assert not (app / "run").exists()
    assert boot(app, env="unittest").config["logger"]["dir"] == str(app / "logs" / "r")
