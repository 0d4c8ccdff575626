"""Private by default: what a cluster writes is owner-only, and the config
dump masks secrets by key name and passwords inside URLs."""

from __future__ import annotations

import json
import os
import stat

from tests.cli_helpers import make_app
from tests.clusters import Cluster, start_daemon
from tests.helpers import logs_under_base_dir

CONFIG = """\
config = {
    "db": {"url": "postgresql://app:pg-pw@db.internal:5432/shop"},
    "cache": "redis://:redis-pw@cache:6379/0",
    "credentials": {"user": "svc"},
    "bearer": "tok",
    "private_pem": "-----BEGIN-----",
    "jwt": {"signing": "hs256-secret", "issuer": "shop"},
    "public": "http://example.com:8080/a",
}
"""


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_logs_and_run_files_are_owner_only_and_secrets_masked(tmp_path, title, port) -> None:
    app = make_app(tmp_path / "app", name="shop")
    (app / "config").mkdir()
    (app / "config" / "config.default.py").write_text(CONFIG)
    logs_under_base_dir(app, "shop")
    old = os.umask(0o022)  # the usual umask: without care, files would be 0644
    try:
        with Cluster(app, title, port, workers=1):
            pass
    finally:
        os.umask(old)
    logs, run = app / "logs", app / "run"
    assert {p.name: _mode(p) for p in (logs, logs / "shop", run)} == dict.fromkeys(
        ("logs", "shop", "run"), 0o700
    )
    files = sorted(logs.glob("shop/*.log")) + sorted(run.glob("*.json"))
    assert len(files) >= 6  # master, agent, web, common-error; application/agent configs
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    dumped = json.loads((run / "application_config.json").read_text())
    text = (run / "application_config.json").read_text()
    for secret in ("pg-pw", "redis-pw", "svc", "tok", "BEGIN", "hs256"):
        assert secret not in text, secret
    assert dumped["db"]["url"] == "postgresql://app:******@db.internal:5432/shop"
    assert dumped["cache"] == "redis://:******@cache:6379/0"
    assert dumped["credentials"] == {"user": "******"}
    assert dumped["jwt"] == {"signing": "******", "issuer": "shop"}
    assert dumped["public"] == "http://example.com:8080/a"


def test_daemon_logs_are_owner_only(tmp_path, title, port) -> None:
    from tests.cli_helpers import cli_env, run_cli

    app = make_app(tmp_path / "app", name="shop")
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(home)
    out, err = home / "deep" / "logs" / "out.log", home / "deep" / "logs" / "err.log"
    old = os.umask(0o022)
    try:
        started = start_daemon(f"--stdout={out}", f"--stderr={err}", str(app), title=title,
                               port=port, env=env, workers=1)  # fmt: skip
    finally:
        os.umask(old)
        stopped = run_cli("stop", f"--title={title}", env=env)
    assert started.returncode == 0, started
    assert stopped.returncode == 0, stopped
    modes = {p.name: _mode(p) for p in (home / "deep", out.parent, out, err)}
    assert modes == {"deep": 0o700, "logs": 0o700, "out.log": 0o600, "err.log": 0o600}
