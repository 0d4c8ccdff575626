"""The contenders, each serving the same hello world (`/` and `/pid`) with 2 workers, each
started, stopped and probed the way its own users do it.

- eggscripts: `eggscripts start --daemon` / `eggscripts stop --title` (bench/hello_app);
- egg-scripts 2 + egg 3: installed from npm into a temp dir by the bench itself;
  `egg-scripts start --daemon` / `egg-scripts stop --title`;
- gunicorn -k uvicorn.workers.UvicornWorker -w 2: `--daemon` with a pid file / SIGTERM;
- uvicorn --workers 2: no daemon mode, so started in the background / SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from measure import free_port, tree, wait_answering, wait_gone

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent


class Contender:
    name = ""
    note = ""  # how it was started, for the table's footnotes

    def __init__(self, workers: int, home: str) -> None:
        self.workers_count = workers
        self.port = free_port()
        self.env = dict(os.environ, HOME=home)

    def prepare(self) -> str | None:
        """None when ready to run, else why this contender is skipped (one line)."""
        return None

    def start(self) -> float:
        """Run the start command; ms until GET / answers."""
        started = time.perf_counter()
        proc = subprocess.Popen(
            self.start_argv(), env=self.env, cwd=self.cwd(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        ready = wait_answering(self.port, started)
        self.after_start(proc)
        return ready

    def start_argv(self) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> str:
        return str(ROOT)

    def after_start(self, proc: subprocess.Popen[bytes]) -> None:
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} start failed: {out.decode()}{err.decode()}")

    def roots(self) -> list[int]:
        raise NotImplementedError

    def workers(self) -> list[int]:
        """App worker pids (children serving HTTP), for the SIGKILL check."""
        raise NotImplementedError

    def stop(self) -> float:
        """ms from issuing the stop until the command returned and every process is gone."""
        procs = tree(self.roots())
        started = time.perf_counter()
        self.send_stop()
        gone = wait_gone(procs)
        return (max(gone, time.perf_counter()) - started) * 1000

    def send_stop(self) -> None:
        raise NotImplementedError


def titled(prefix: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and (cmd[0] + " ").startswith(prefix):
            found.append(proc)
    return found


class Eggscripts(Contender):
    name = "eggscripts"
    note = "eggscripts start --daemon / stop --title"

    def __init__(self, workers: int, home: str, app: Path = HERE / "hello_app") -> None:
        super().__init__(workers, home)
        self.app = app
        self.title = f"bench-{os.getpid()}-{self.port}"

    def start_argv(self) -> list[str]:
        return [
            str(BIN / "eggscripts"), "start", "--daemon", f"--title={self.title}",
            f"--port={self.port}", "--hostname=127.0.0.1", f"--workers={self.workers_count}",
            str(self.app),
        ]  # fmt: skip

    def roots(self) -> list[int]:
        return [p.pid for p in titled(f"eggscripts-master --title={self.title} ")]

    def workers(self) -> list[int]:
        return sorted(p.pid for p in titled(f"eggscripts-app --title={self.title} "))

    def agents(self) -> list[int]:
        return sorted(p.pid for p in titled(f"eggscripts-agent --title={self.title} "))

    def send_stop(self) -> None:
        cmd = [str(BIN / "eggscripts"), "stop", f"--title={self.title}"]
        subprocess.run(cmd, env=self.env, capture_output=True, check=True)


class EggJs(Contender):
    """egg-scripts 2 + egg 3, the stack eggscripts re-creates."""

    name = "egg-scripts 2 + egg 3"
    note = "egg-scripts start --daemon / stop --title (npm)"
    PACKAGES = ("egg-scripts@2", "egg@3")

    def __init__(self, workers: int, home: str, workdir: Path) -> None:
        super().__init__(workers, home)
        self.dir = workdir
        self.title = f"bench-egg-{os.getpid()}-{self.port}"

    def prepare(self) -> str | None:
        if not (shutil.which("npm") and shutil.which("node")):
            return "egg-scripts 2 + egg 3: skipped (npm/node not installed)"
        if not (self.dir / "node_modules" / ".bin" / "egg-scripts").exists():
            self.write_app()
            cmd = ["npm", "install", "--no-audit", "--no-fund", "--silent", *self.PACKAGES]
            done = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                return f"egg-scripts 2 + egg 3: skipped (npm install failed: {done.stderr[-200:]})"
        return None

    def write_app(self) -> None:
        (self.dir / "app").mkdir(parents=True, exist_ok=True)
        (self.dir / "config").mkdir(exist_ok=True)
        package = {"name": "bench-egg", "private": True, "egg": {}}
        (self.dir / "package.json").write_text(json.dumps(package))
        (self.dir / "app" / "router.js").write_text(
            "'use strict';\nmodule.exports = app => {\n"
            "  app.router.get('/', ctx => { ctx.body = 'hello world'; });\n"
            "  app.router.get('/pid', ctx => { ctx.body = String(process.pid); });\n};\n"
        )
        (self.dir / "config" / "config.default.js").write_text(
            "'use strict';\nexports.keys = 'bench';\nexports.logger = { consoleLevel: 'NONE' };\n"
        )

    def cwd(self) -> str:
        return str(self.dir)

    def start_argv(self) -> list[str]:
        return [
            str(self.dir / "node_modules" / ".bin" / "egg-scripts"), "start", "--daemon",
            f"--workers={self.workers_count}", f"--port={self.port}", f"--title={self.title}",
        ]  # fmt: skip

    def master(self) -> list[psutil.Process]:
        marker = f'"title":"{self.title}"'
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "start-cluster" in cmd and marker in cmd:
                found.append(proc)
        return found

    def roots(self) -> list[int]:
        return [p.pid for p in self.master()]

    def workers(self) -> list[int]:
        pids = []
        for proc in tree(self.roots()):
            try:
                if any("app_worker.js" in part for part in proc.cmdline()):
                    pids.append(proc.pid)
            except psutil.NoSuchProcess:
                continue
        return sorted(pids)

    def send_stop(self) -> None:
        cmd = [str(self.dir / "node_modules" / ".bin" / "egg-scripts"), "stop",
               f"--title={self.title}"]  # fmt: skip
        subprocess.run(cmd, env=self.env, cwd=self.dir, capture_output=True, check=True)


class Gunicorn(Contender):
    name = "gunicorn + UvicornWorker"
    note = "gunicorn -k uvicorn.workers.UvicornWorker --daemon / SIGTERM"

    def __init__(self, workers: int, home: str) -> None:
        super().__init__(workers, home)
        self.pidfile = Path(home) / f"gunicorn-{self.port}.pid"

    def prepare(self) -> str | None:
        if not (BIN / "gunicorn").exists():
            return "gunicorn: skipped (not installed in this venv: pip install gunicorn)"
        return None

    def start_argv(self) -> list[str]:
        return [
            str(BIN / "gunicorn"), "-k", "uvicorn.workers.UvicornWorker",
            "-w", str(self.workers_count), "-b", f"127.0.0.1:{self.port}", "--daemon",
            "--pid", str(self.pidfile), "--chdir", str(HERE), "hello_asgi:app",
        ]  # fmt: skip

    def roots(self) -> list[int]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return [int(self.pidfile.read_text().strip())]
            except (OSError, ValueError):
                time.sleep(0.01)
        raise RuntimeError("gunicorn wrote no pid file")

    def workers(self) -> list[int]:
        return sorted(p.pid for p in psutil.Process(self.roots()[0]).children())

    def send_stop(self) -> None:
        os.kill(self.roots()[0], signal.SIGTERM)


class Uvicorn(Contender):
    name = "uvicorn --workers"
    note = "uvicorn --workers (no daemon mode: backgrounded) / SIGTERM"

    def start(self) -> float:
        started = time.perf_counter()
        # Its own session, like every daemon here: with the kernel's autogroup scheduling a
        # server in the bench's session shares wrk's CPU group, and on a busy machine that
        # alone gave it 2.4x the req/s of the same code started in a session of its own.
        self.proc = subprocess.Popen(
            self.start_argv(), cwd=str(ROOT), env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return wait_answering(self.port, started)

    def start_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--workers", str(self.workers_count),
            "--no-access-log", "--http", "httptools", "--loop", "uvloop",
            "--host", "127.0.0.1", "--port", str(self.port), "--app-dir", str(HERE),
            "hello_asgi:app",
        ]  # fmt: skip

    def roots(self) -> list[int]:
        return [self.proc.pid]

    def workers(self) -> list[int]:
        pids = []
        for proc in psutil.Process(self.proc.pid).children():
            try:
                if not any("resource_tracker" in part for part in proc.cmdline()):
                    pids.append(proc.pid)
            except psutil.NoSuchProcess:
                continue
        return sorted(pids)

    def send_stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
