"""The decisions of runtime/contract/safe_open.py, in-process and fast: which links are followed,
which files and directories a root master refuses (docs/DEPLOY.md, `--user`).

The app user is played by uid/gid 65534 (`nobody`): only ownership matters here, no
process runs as it. tests/process/runtime/master/test_root_master_files.py shows the same
with real clusters.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from runtime.contract.safe_open import UnsafePath, make_dirs, open_file

APP = (65534, 65534)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as others")


def _app_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    os.chown(path, *APP)
    return path


def _write(path: Path, owner: tuple[int, int] | None, **kw: bool) -> None:
    fd, _ = open_file(str(path), owner, **kw)
    os.write(fd, b"line\n")
    os.close(fd)


def test_guarded_refuses_a_link_in_the_app_users_directory(tmp_path: Path) -> None:
    logs = _app_dir(tmp_path / "logs")
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")
    (logs / "master.log").symlink_to(secret)
    with pytest.raises(UnsafePath, match="symbolic link in a directory nobody"):
        _write(logs / "master.log", APP)
    (logs / "master.log").unlink()
    os.rename(logs, tmp_path / "moved")
    (tmp_path / "logs").symlink_to(tmp_path / "moved")  # root's dir: root made this link
    _write(tmp_path / "logs" / "master.log", APP)
    assert secret.read_bytes() == b"x"
    assert (tmp_path / "moved" / "master.log").read_bytes() == b"line\n"


def test_guarded_refuses_a_link_on_the_way_in_a_directory_of_the_app_user(tmp_path) -> None:
    home = _app_dir(tmp_path / "home")
    (tmp_path / "etc").mkdir()
    (home / "logs").symlink_to(tmp_path / "etc")
    with pytest.raises(UnsafePath, match="symbolic link"):
        _write(home / "logs" / "out.log", APP, by_app=False)
    assert list((tmp_path / "etc").iterdir()) == []


def test_guarded_refuses_fifos_and_hard_links_without_blocking(tmp_path: Path) -> None:
    logs = _app_dir(tmp_path / "logs")
    os.mkfifo(logs / "master.log")
    with pytest.raises(UnsafePath, match="not a regular file"):
        _write(logs / "master.log", APP)
    (logs / "master.log").unlink()
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")
    os.link(secret, logs / "master.log")
    with pytest.raises(UnsafePath, match="2 hard links"):
        _write(logs / "master.log", APP)
    assert secret.read_bytes() == b"x"


def test_guarded_app_directories_belong_to_the_app_user(tmp_path: Path) -> None:
    rooted = tmp_path / "rooted"
    rooted.mkdir()
    with pytest.raises(UnsafePath, match="belongs to root, not to nobody"):
        _write(rooted / "master.log", APP)
    with pytest.raises(UnsafePath, match="cannot create made in it"):
        make_dirs(str(rooted / "made" / "deeper"), APP)
    assert list(rooted.iterdir()) == []
    _write(rooted / "master-stdout.log", APP, by_app=False)  # root's own command line
    home = _app_dir(tmp_path / "home")
    assert make_dirs(str(home / "logs" / "shop"), APP)
    made = os.stat(home / "logs" / "shop")
    assert (made.st_uid, made.st_gid, stat.S_IMODE(made.st_mode)) == (*APP, 0o700)
    fd, created = open_file(str(home / "logs" / "shop" / "master.log"), APP)
    os.close(fd)
    assert created and stat.S_IMODE(os.stat(home / "logs" / "shop" / "master.log").st_mode) == 0o600


def test_unguarded_follows_links_only_in_its_own_directories(tmp_path: Path) -> None:
    """Without --user: as before in our own directory (a `-> /dev/stdout` keeps working),
    O_NOFOLLOW in a directory another user owns."""
    target = tmp_path / "target"
    target.write_bytes(b"")
    (tmp_path / "own.log").symlink_to(target)
    _write(tmp_path / "own.log", None)
    assert target.read_bytes() == b"line\n"
    shared = _app_dir(tmp_path / "shared")
    (shared / "master.log").symlink_to(target)
    with pytest.raises(UnsafePath, match="which belongs to nobody; it is not followed"):
        _write(shared / "master.log", None)
    assert not make_dirs(str(tmp_path / "x"), None)  # nothing to guard: the caller's way
    assert not make_dirs(str(tmp_path / "x"), (0, 0))  # --group only: children are root
