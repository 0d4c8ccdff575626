"""What `pip install eggscripts` gives a user (README.md, "Install"): the wheel carries the
man pages, the completion scripts and the license; the sdist builds the very same wheel;
installed into a fresh virtualenv, `man eggscripts` works from PATH alone and a login bash
completes `eggscripts st<TAB>` through bash-completion's loader.

One sdist and two wheels are built per session (about 3 s, no network: the build runs
without isolation, with the setuptools and wheel of the test environment), and one fresh
virtualenv gets the wheel with its dependencies (about 2 s from pip's cache).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from eggscripts import __version__
from tests.helpers import ROOT

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
DATA = f"eggscripts-{__version__}.data/data/"
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result


def wheel_from(source: Path, out: Path) -> Path:
    """`pip wheel .` as a user runs it, without build isolation (no download)."""
    run([*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)])
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, the wheel built from the checkout and the wheel built from the sdist.

    The checkout's files (tracked and new, not ignored) are copied first: setuptools builds
    in the source tree, and a stale build/ there would leak into the wheel."""
    base = tmp_path_factory.mktemp("dists")
    files = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT
    ).stdout.split("\0")
    tree = base / "tree"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    run([sys.executable, "-m", "build", "-q", "--sdist", "--no-isolation", "-o", str(base)],
        cwd=tree)  # fmt: skip
    (sdist,) = base.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        # Our own archive; the "data" filter where this Python has it (3.11.4+, 3.10.12+).
        safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(base / "unpacked", **safe)
    (unpacked,) = (base / "unpacked").iterdir()
    return {
        "sdist": sdist,
        "wheel": wheel_from(tree, base / "from-tree"),
        "wheel_from_sdist": wheel_from(unpacked, base / "from-sdist"),
    }


@pytest.fixture(scope="session")
def venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its dependencies installed."""
    path = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    run([*PIP, "--python", str(path / "bin" / "python"), "install", "-q", str(dists["wheel"])])
    return path


def test_the_wheel_carries_man_pages_completions_and_the_license(
    dists: dict[str, Path],
) -> None:
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    man = {Path(n).name for n in names if n.startswith(f"{DATA}share/man/man1/")}
    assert man == {p.name for p in (ROOT / "man").glob("*.1")}
    assert {"eggscripts.1", "eggscripts-start.1"} <= man
    for installed, source in [
        ("share/bash-completion/completions/eggscripts", "completions/eggscripts"),
        ("share/zsh/site-functions/_eggscripts", "completions/_eggscripts"),
        ("share/fish/vendor_completions.d/eggscripts.fish", "completions/eggscripts.fish"),
    ]:
        assert (
            zipfile.ZipFile(dists["wheel"]).read(DATA + installed) == (ROOT / source).read_bytes()
        )
    info = f"eggscripts-{__version__}.dist-info/"
    # Newer setuptools put it under licenses/ (PEP 639), older ones beside METADATA.
    assert {f"{info}LICENSE", f"{info}licenses/LICENSE"} & names
    metadata = (
        zipfile.ZipFile(dists["wheel"])
        .read(f"eggscripts-{__version__}.dist-info/METADATA")
        .decode()
    )
    assert f"Version: {__version__}" in metadata
    assert "Project-URL: Changelog, " in metadata
    for minor in (10, 11, 12, 13):
        assert f"Classifier: Programming Language :: Python :: 3.{minor}" in metadata


def test_the_sdist_builds_the_same_wheel(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as archive:
        members = archive.getnames()
    root = f"eggscripts-{__version__}/"
    for name in ("LICENSE", "CHANGELOG.md", "README.md", "man/eggscripts.1",
                 "completions/eggscripts"):  # fmt: skip
        assert root + name in members

    def record(wheel: Path) -> list[str]:
        """Every file with its hash; RECORD itself is the list."""
        text = zipfile.ZipFile(wheel).read(f"eggscripts-{__version__}.dist-info/RECORD")
        return sorted(line for line in text.decode().splitlines() if "/RECORD," not in line)

    assert record(dists["wheel_from_sdist"]) == record(dists["wheel"])


def login_bash_completes(home: Path, line: str) -> str:
    """Type `line` and TAB TAB at a login bash's prompt on a pseudo-terminal, as a user
    does; returns what the terminal showed once the completion listing appeared (or after
    15 s). The shell starts from a new user's dotfiles (/etc/skel) and nothing else."""
    for dotfile in (".profile", ".bashrc"):
        if (Path("/etc/skel") / dotfile).exists() and not (home / dotfile).exists():
            shutil.copy(Path("/etc/skel") / dotfile, home / dotfile)
    master, slave = os.openpty()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb", "LANG": "C.UTF-8"}
    shell = subprocess.Popen(
        ["bash", "--login", "-i"], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=home,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        os.write(master, line.encode() + b"\t\t")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not re.search(rb"status\s+stop", seen):
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        os.write(master, b"\x15exit\n")
        shell.wait(timeout=10)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        os.close(master)
    return seen.decode(errors="replace")


def bash_completion_version() -> tuple[int, int]:
    if shutil.which("bash") is None or not BASH_COMPLETION.exists():
        pytest.skip("bash-completion is not installed (`make system-tools` installs it)")
    found = re.search(r"BASH_COMPLETION_VERSINFO=\((\d+) (\d+)", BASH_COMPLETION.read_text())
    assert found, "cannot read bash-completion's version"
    return int(found.group(1)), int(found.group(2))


def test_the_installed_command_also_runs_as_python_m_and_prints_its_completion(
    venv: Path, tmp_path: Path
) -> None:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    version = run([str(venv / "bin" / "python"), "-m", "eggscripts", "--version"], env=env)
    assert version.stdout == f"eggscripts {__version__}\n"
    script = run([str(venv / "bin" / "eggscripts"), "completion", "bash"], env=env).stdout
    installed = venv / "share" / "bash-completion" / "completions" / "eggscripts"
    assert script == installed.read_text()


@pytest.mark.parametrize("page", ["eggscripts", "eggscripts-start"])
def test_man_finds_the_installed_pages_from_path(venv: Path, tmp_path: Path, page: str) -> None:
    """man-db derives its search path from PATH (<dir>/../share/man): a virtualenv's bin
    on PATH is all it takes, with MANPATH unset."""
    if shutil.which("man") is None:
        pytest.skip("man is not installed (`make system-tools` installs man-db)")
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MANWIDTH": "80",
           "LANG": "C.UTF-8", "MANPAGER": "cat", "PAGER": "cat"}  # fmt: skip
    result = run(["man", page], env=env, cwd=tmp_path)
    assert re.search(rf"^{page.upper()}\(1\)", result.stdout, re.MULTILINE), result.stdout
    assert "NAME" in result.stdout and "SYNOPSIS" in result.stdout
    assert "\\fB" not in result.stdout  # rendered, not the source


def test_a_user_install_completes_in_a_login_bash(
    dists: dict[str, Path], venv: Path, tmp_path: Path
) -> None:
    """`pip install --user` (files under ~/.local): bash-completion finds
    ~/.local/share/bash-completion/completions/eggscripts, Debian's ~/.profile puts
    ~/.local/bin on PATH; nothing to set up. The script's interpreter is the fresh venv's
    (pip refuses --user inside a venv; --prefix ~/.local is the same layout)."""
    bash_completion_version()
    home = tmp_path / "home"
    home.mkdir()
    user_scheme = ["--ignore-installed", "--no-warn-script-location", "--prefix", home / ".local"]
    run([*PIP, "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps",
         *map(str, user_scheme), str(dists["wheel"])])  # fmt: skip
    if not Path("/etc/skel/.profile").exists():  # Debian's puts ~/.local/bin on PATH
        (home / ".profile").write_text('PATH="$HOME/.local/bin:$PATH"\n')
    seen = login_bash_completes(home, "eggscripts st")
    assert re.search(r"start\s+status\s+stop", seen), seen


def test_a_virtualenv_on_path_completes_in_a_login_bash(venv: Path, tmp_path: Path) -> None:
    """A virtualenv (or pipx's) whose bin is on PATH: bash-completion >= 2.12 looks in
    <dir>/../share/bash-completion/completions for every PATH dir, so nothing is needed;
    2.11 (Debian 12) needs the one line README.md's "Install" gives, tested here."""
    home = tmp_path / "home"
    home.mkdir()
    profile = f'PATH="{venv / "bin"}:$PATH"\n'
    if bash_completion_version() < (2, 12):
        default = "${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
        profile += f'export XDG_DATA_DIRS="{venv / "share"}:{default}"\n'
    (home / ".profile").write_text(profile + '. "$HOME/.bashrc"\n')
    seen = login_bash_completes(home, "eggscripts st")
    assert re.search(r"start\s+status\s+stop", seen), seen
