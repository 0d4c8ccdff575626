"""Every supported Python, as `make test` runs them (README.md, "Install").

- `full`: the whole suite, in the environment nox itself runs from (make's `.venv`).
- `fast-3.10` ... `fast-3.13`: the fast layer (`pytest -m "not process"`: tests/unit/ and
  the vendored uvicorn tests, no process started) and the start/stop smoke test
  (tests/process/test_smoke.py) on each interpreter, in a virtualenv of its own under
  `.nox/`, kept between runs and reinstalled only when setup.cfg or pyproject.toml change.
  The project is installed editable, so the code under test is always the checkout's.
- `interpreters`: the fast sessions of the interpreters other than the one running `full`
  (the full suite covers its own), side by side: they mostly wait on sockets and timers,
  so three at once take about as long as one. Each one's output is shown when all are done.

`nox` alone (what `make test` runs) takes `full` and `interpreters`; `nox -s fast` runs all
four fast sessions one after the other. An interpreter the machine lacks is skipped with a
warning naming it (and in nox's summary), never silently. Packages come from the package
index only: no interpreter is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
ROOT = Path(__file__).resolve().parent
# The fast layer: every test not marked `process` (tests/conftest.py marks tests/process/
# and tests/reliability/), then the start/stop smoke test, a process test of its own.
# uvicorn's own protocol tests (tests/uvicorn_protocol/) are vendored from the uvicorn the
# main interpreter installs; another interpreter may resolve another uvicorn (Python 3.10
# gets an older one), so they run in the `full` session only.
FAST = ["-m", "not process", "--ignore=tests/uvicorn_protocol"]
SMOKE = ["tests/process/test_smoke.py"]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = False
nox.options.reuse_venv = "yes"
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
nox.options.sessions = ["full", "interpreters"]


def _pyenv_versions() -> None:
    """pyenv installs every Python but its shims answer only for the selected versions
    (`python3.10: command not found` otherwise): select the newest 3.X of each supported
    X after the current one, which stays first, so `python3` is the same as before."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return

    def pyenv_says(*args: str) -> list[str]:
        return subprocess.run([pyenv, *args], capture_output=True, text=True).stdout.split()

    selected = [v for v in ":".join(pyenv_says("version-name")).split(":") if v]
    installed = pyenv_says("versions", "--bare")
    for version in PYTHONS:
        patches = [v for v in installed if v.rpartition(".")[0] == version]
        newest = max(patches, key=lambda v: int(v.rpartition(".")[2]), default=None)
        if newest and newest not in selected:
            selected.append(newest)
    os.environ["PYENV_VERSION"] = ":".join(selected)


_pyenv_versions()


def _install_once(session: nox.Session) -> None:
    """Install the project (editable) with its `test` extra (the unit tests import the
    frameworks an app target may be), unless this virtualenv already has them for the
    current setup.cfg and pyproject.toml."""
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    stamp = Path(session.virtualenv.location) / ".eggscripts-installed"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        session.log("dependencies up to date (setup.cfg, pyproject.toml unchanged)")
        return
    session.install("-e", ".[test]")
    stamp.write_text(digest.hexdigest())


@nox.session(python=PYTHONS)
def fast(session: nox.Session) -> None:
    """The fast layer and the start/stop smoke test on one interpreter."""
    _install_once(session)
    pytest = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)
    session.run(*pytest, *FAST)
    session.run(*pytest, *SMOKE)


@nox.session(python=False)
def full(session: nox.Session) -> None:
    """The whole suite, in the environment running nox (make's .venv)."""
    if importlib.util.find_spec("eggscripts") is None or importlib.util.find_spec("pytest") is None:
        session.error(
            f"{sys.executable} lacks the project or pytest: run .venv/bin/nox (make test)"
        )
    # Two pytest workers (pytest-xdist): the process tests mostly wait on sockets, signals
    # and timers, so two at once on the 2 cores take about half as long. Their temporary
    # directories stay short: a Unix socket path must fit in 108 bytes.
    basetemp = tempfile.mkdtemp(prefix="es-")
    args = ["-n", "2", f"--basetemp={basetemp}"] if not session.posargs else []
    session.run(sys.executable, "-m", "pytest", "-q", *args, *session.posargs, external=True)
    shutil.rmtree(basetemp, ignore_errors=True)


@nox.session(python=False)
def interpreters(session: nox.Session) -> None:
    """`fast` on every other supported interpreter, the sessions running side by side."""
    names = [f"fast-{v}" for v in PYTHONS if v != RUNNING]
    logs = {name: ROOT / ".nox" / f"{name}.log" for name in names}
    (ROOT / ".nox").mkdir(exist_ok=True)
    runs = {}
    for name in names:
        with logs[name].open("w") as out:
            runs[name] = subprocess.Popen(
                [sys.executable, "-m", "nox", "--no-color", "-s", name, "--", *session.posargs],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
    failed = [name for name, run in runs.items() if run.wait() != 0]
    for name in names:
        text = logs[name].read_text()
        print(f"----- {name} -----\n{text}", flush=True)
        if f"Session {name} skipped" in text:
            session.warn(f"{name} SKIPPED: its interpreter is not on this machine ({logs[name]})")
    if failed:
        session.error(f"failed: {', '.join(failed)} (logs: .nox/<session>.log)")
