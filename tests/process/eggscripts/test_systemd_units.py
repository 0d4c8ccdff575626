"""`eggscripts systemd` prints units systemd accepts (issue 13): Type=notify, the start
options carried to ExecStart, ExecReload, KillMode=mixed, a stop timeout equal to the
checked grace period, and a matching socket unit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import cli_env, make_app, run_cli


def units(tmp_path: Path, *args: str) -> dict[str, str]:
    app = make_app(tmp_path / "my app", name="shop")
    result = run_cli("systemd", *args, str(app), env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out: dict[str, str] = {}
    name = ""
    for line in result.stdout.splitlines(keepends=True):
        if line.startswith("# ---- /etc/systemd/system/"):
            name = line.split("/")[-1].split()[0]
        out[name] = out.get(name, "") + line
    return out


def test_service_and_socket_units(tmp_path: Path) -> None:
    got = units(
        tmp_path, "--title=shop", "--port=8080", "--workers=3", "--shutdown-delay=4000",
        "--grace-period=20", "--health-port=0.0.0.0:9000", "--require=./boot 100%.py",
    )  # fmt: skip
    service, socket = got["shop.service"], got["shop.socket"]
    app = tmp_path / "my app"
    assert "Type=notify\n" in service and "NotifyAccess=main\n" in service
    assert "KillMode=mixed\n" in service and "TimeoutStopSec=20\n" in service
    exec_start = next(ln for ln in service.splitlines() if ln.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart={sys.executable} -m eggscripts start --title=shop ")
    for flag in ("--port=8080", "--workers=3", "--shutdown-delay=4000", "--grace-period=20",
                 "--health-port=0.0.0.0:9000"):  # fmt: skip
        assert f" {flag} " in exec_start
    assert '"--require=./boot 100%%.py"' in exec_start  # quoted, % escaped; BASE_DIR-relative
    assert "--daemon" not in exec_start and exec_start.endswith(f' "{app}"')
    assert f"ExecReload={sys.executable} -m eggscripts reload --title=shop\n" in service
    assert "Requires=shop.socket\n" in service
    assert "ListenStream=8080\n" in socket and "FileDescriptorName=http\n" in socket


def test_hostname_goes_to_the_socket(tmp_path: Path) -> None:
    assert (
        "ListenStream=127.0.0.1:7001\n"
        in units(tmp_path, "--hostname=127.0.0.1")["egg-server-shop.socket"]
    )
    assert (
        "ListenStream=[::1]:81\n"
        in units(tmp_path, "--hostname=::1", "--port=81")["egg-server-shop.socket"]
    )


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_analyze_verify_accepts_them(tmp_path: Path) -> None:
    got = units(tmp_path, "--title=shop", "--port=8080")
    for name, text in got.items():
        (tmp_path / name).write_text(text)
    verify(tmp_path, "shop.service", "shop.socket")


def verify(directory: Path, *names: str) -> None:
    """`systemd-analyze verify` says nothing at all about good units."""
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=directory, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_short_form_module_attr_as_start_takes_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "flat"\n')
    (tmp_path / "flat.py").write_text("def app(environ, start_response):\n    return []\n")
    result = run_cli("systemd", "flat:app", env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"WorkingDirectory={tmp_path}\n" in result.stdout
    start = next(ln for ln in result.stdout.splitlines() if ln.startswith("ExecStart="))
    assert " start --title=egg-server-flat --app=flat:app " in start
    assert start.endswith(f" {tmp_path}")
