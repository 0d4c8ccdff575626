"""Production integration of a real cluster (issue 13's "Done when"): what systemd
receives on `$NOTIFY_SOCKET`, the `--health-port` probes and metrics, `--shutdown-delay`
under load (queued connections included), SIGUSR1 after logrotate, PID 1 in a pid
namespace, and the orphans of a SIGKILLed worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.clusters import TEST_HOME, Cluster
from tests.helpers import FIXTURES, ROOT, request, try_request, wait_until
from tests.load import Load

APP = FIXTURES / "production_app"


def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    return sock


def next_message(sock: socket.socket, timeout: float = 15.0) -> tuple[float, dict[str, str]]:
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return time.monotonic(), dict(line.split("=", 1) for line in data.split("\n"))


def health(port: int, path: str, timeout: float = 5.0) -> int:
    return request(port, path, timeout=timeout).status


def get_all(port: int, paths: list[str], timeout: float = 20.0) -> Counter[str]:
    """Each path on its own connection, all at once; outcome per request."""
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def one(path: str) -> None:
        try:
            outcome = str(request(port, path, timeout=timeout).status)
        except Exception as exc:
            outcome = type(exc).__name__
        with lock:
            results[outcome] += 1

    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    return results


# -- systemd Type=notify -------------------------------------------------------------------
def test_systemd_notifications_in_order(tmp_path, monkeypatch, port, title) -> None:
    systemd = notify_socket(tmp_path, monkeypatch)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WATCHDOG=1 every 0.2 s
    got: list[tuple[float, dict[str, str]]] = []
    cluster = Cluster(APP, title, port, workers=2).start(wait=False)
    try:
        while True:  # until READY=1; then a request must succeed at once
            stamp, msg = next_message(systemd)
            got.append((stamp, msg))
            if msg.get("READY") == "1":
                assert request(port, "/").status == 200
                assert len(cluster.processes()["app"]) == 2
                break
        cluster.signal(signal.SIGHUP)  # the same rolling reload as `eggscripts reload`
        while not got[-1][1].get("READY") or not any("RELOADING" in m for _, m in got):
            got.append(next_message(systemd))
        cluster.signal(signal.SIGTERM)
        while "STOPPING" not in got[-1][1]:
            got.append(next_message(systemd))
        code, _, err = cluster.wait(20)
    finally:
        cluster.stop()
        systemd.close()
    assert code == 0, err
    events = [m for _, m in got if m != {"WATCHDOG": "1"}]
    statuses = [m.get("STATUS", "") for m in events]
    assert events[0]["STATUS"] == "agent started" and "EXTEND_TIMEOUT_USEC" in events[0]
    assert statuses[1:3] == ["1/2 workers ready", "2/2 workers ready"]
    ready = [i for i, m in enumerate(events) if m.get("READY") == "1"]
    reloading = [i for i, m in enumerate(events) if m.get("RELOADING") == "1"]
    stopping = [i for i, m in enumerate(events) if m.get("STOPPING") == "1"]
    assert len(ready) == 2 and len(reloading) == 1 and len(stopping) == 1
    assert ready[0] < reloading[0] < ready[1] < stopping[0]
    assert int(events[reloading[0]]["MONOTONIC_USEC"]) > 0
    assert "reloading: 1/2 workers on the new code" in statuses
    # WATCHDOG=1 at half of WATCHDOG_USEC while the loop runs (generous bounds: shared CPU)
    beats = [t for t, m in got if m == {"WATCHDOG": "1"}]
    expected = (beats[-1] - got[0][0]) / 0.2
    assert 0.5 * expected <= len(beats) <= 1.5 * expected + 2, (len(beats), expected)


# -- health port ----------------------------------------------------------------------------
def test_metrics_count_the_requests_and_readyz_answers_while_workers_block(port, title) -> None:
    from tests.helpers import free_port

    hp = free_port()
    # worker_timeout 2 s: beats (with their request counters) every second
    options = {"health_port": hp, "worker_timeout": 4000}
    with Cluster(APP, title, port, workers=2, **options):
        assert health(hp, "/readyz") == 200 and health(hp, "/livez") == 200
        for _ in range(25):
            assert request(port, "/").status == 200

        def served() -> float:
            text = request(hp, "/metrics").text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            samples = families["eggscripts_worker_requests"].samples
            return sum(s.value for s in samples if s.labels["role"] == "app")

        wait_until(lambda: served() == 25, timeout=10)
        # Every worker blocked in synchronous app code: the probe is the master's.
        blockers = [
            threading.Thread(target=try_request, args=(port, "/block?ms=2500", 10))
            for _ in range(2)
        ]
        for thread in blockers:
            thread.start()
            time.sleep(0.1)
        time.sleep(0.3)
        assert try_request(port, "/", timeout=0.5) is None  # nobody answers the app port
        worst = 0.0
        for _ in range(10):
            start = time.monotonic()
            assert health(hp, "/readyz") == 200
            worst = max(worst, time.monotonic() - start)
        for thread in blockers:
            thread.join()
    assert worst < 0.05, worst


# -- shutdown delay and drain -----------------------------------------------------------------
def test_shutdown_delay_serves_reports_not_ready_then_drains_queued(port, title) -> None:
    from tests.helpers import free_port

    hp = free_port()
    cluster = Cluster(APP, title, port, workers=2, health_port=hp, shutdown_delay=2000)
    with cluster:
        took = delayed_drain_under_load(cluster, hp, cluster.pid)
    assert 2.0 <= took < 10, took


def delayed_drain_under_load(cluster: Cluster, hp: int, master: int) -> float:
    """SIGTERM under load with a 2 s shutdown delay: keeps serving with /readyz failing,
    then drains with 0 failed requests, including connections queued in the backlog
    behind busy workers when the drain begins. Returns the seconds to exit."""
    port = cluster.port
    with Load(port, threads=3, limit=30) as load:
        time.sleep(0.5)
        sent = time.monotonic()
        os.kill(master, signal.SIGTERM)
        wait_until(lambda: health(hp, "/readyz") == 503, timeout=1)
        time.sleep(1.2)  # the load balancer takes a moment to notice; then stops
    ok_during_delay = load.ok
    assert cluster.proc is not None and cluster.proc.poll() is None
    assert request(port, "/").status == 200  # still serving 1.5 s after SIGTERM
    # Just before the drain: both workers busy in slow synchronous requests, and 16
    # connections queued behind them in the listen backlog, not yet accepted.
    time.sleep(max(0.0, sent + 1.6 - time.monotonic()))
    outcome = get_all(port, ["/block?ms=1200"] * 2 + ["/"] * 16)
    code, out, err = cluster.wait(20)
    took = time.monotonic() - sent
    assert load.failed == 0, load.errors[:5]
    assert ok_during_delay > 0
    assert outcome == Counter({"200": 18}), outcome
    assert code == 0, err
    assert "shutdown delay over" in out
    return took


# -- a container's PID 1 ---------------------------------------------------------------------
def pid_namespace_works() -> bool:
    if not shutil.which("unshare"):
        return False
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], check=False)
    return done.returncode == 0


@pytest.mark.skipif(
    not pid_namespace_works(), reason="needs `unshare --pid` (util-linux, root or userns)"
)
def test_master_as_pid_1_reaps_orphans_and_stops_in_its_grace_period(port, title) -> None:
    from tests.helpers import free_port

    hp = free_port()
    cluster = Cluster(APP, title, port, workers=2, health_port=hp, shutdown_delay=2000)
    cluster.prefix = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    with cluster:
        (master,) = cluster.processes()["master"]
        status = Path(f"/proc/{master.pid}/status").read_text().splitlines()
        nspid = [line.split()[-1] for line in status if line.startswith("NSpid")]
        assert nspid == ["1"]
        for _ in range(4):  # each abandons two grandchildren that exit after 0.2 s
            assert request(port, "/spawn?s=0.2").status == 200
        time.sleep(1.2)
        zombies = [p for p in master.children(recursive=True) if gone(p)]
        assert zombies == []
        took = delayed_drain_under_load(cluster, hp, master.pid)
    assert took < 30  # the default --grace-period


def test_second_sigterm_drains_at_once(port, title) -> None:
    with Cluster(APP, title, port, workers=1, shutdown_delay=20000, grace_period=60) as c:
        start = time.monotonic()
        c.signal(signal.SIGTERM)
        time.sleep(0.3)
        assert request(port, "/").status == 200
        c.signal(signal.SIGTERM)
        code, _, err = c.wait(10)
    assert code == 0, err
    assert time.monotonic() - start < 8


# -- SIGUSR1: logrotate --------------------------------------------------------------------
def test_sigusr1_reopens_every_log_file_after_mv(tmp_path, port, title) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text((APP / "pyproject.toml").read_text())
    (app / "app").mkdir()
    (app / "app" / "router.py").write_text((APP / "app" / "router.py").read_text())
    logs = tmp_path / "logs"
    (app / "config").mkdir()
    (app / "config" / "config.default.py").write_text(
        f"config = {{'logger': {{'dir': {str(logs)!r}}}}}\n"
    )
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    extra = {"stdout_log": str(stdout), "stderr_log": str(stderr)}
    with Cluster(app, title, port, workers=2, **extra) as c:
        for n in range(6):
            request(port, f"/say?n=before{n}")
        wait_until(lambda: (logs / "production-app-web.log").exists())
        files = sorted(logs.glob("*.log"))
        assert {f.name for f in files} >= {"master.log", "egg-agent.log"}
        for f in files:
            f.rename(f.with_name(f.name + ".1"))
        c.signal(signal.SIGUSR1)
        wait_until(lambda: all(f.exists() for f in files), timeout=5)
        for n in range(20):  # fresh connections: both workers say something
            assert request(port, f"/say?n=after{n}").status == 200
        alive = c.processes()
        assert c.proc is not None and c.proc.poll() is None  # SIGUSR1 killed nobody
        assert len(alive["app"]) == 2 and len(alive["agent"]) == 1
        code, _, err = c.stop()
    assert code == 0, err
    web = (logs / "production-app-web.log").read_text()
    old_web = (logs / "production-app-web.log.1").read_text()
    assert "after" in web and "after" not in old_web
    said_before = sum(old_web.count(f"line before{n} ") for n in range(6))
    said_after = sum(web.count(f"line after{n} ") for n in range(20))
    assert (said_before, said_after) == (6, 20)  # nothing lost
    worker_pids = {line.split()[3] for line in web.splitlines() if "line after" in line}
    assert len(worker_pids) == 2, "both workers write to the new file"
    assert "reopened the log files" in (logs / "master.log").read_text()
    assert "exit with code 0" in (logs / "master.log").read_text()
    assert (logs / "egg-agent.log").exists()


# -- orphans of a SIGKILLed worker ---------------------------------------------------------
def test_subprocesses_of_a_sigkilled_worker_are_terminated(port, title) -> None:
    with Cluster(APP, title, port, workers=1, worker_timeout=0) as c:
        pid = int(request(port, "/child").text)
        sub = psutil.Process(pid)
        (worker,) = c.processes()["app"]
        assert sub.ppid() == worker.pid
        worker.kill()  # like a worker timeout or the OOM killer: no tree cleanup
        wait_until(lambda: gone(sub), 10)
        code, out, err = c.stop()
    assert code == 0, err
    assert "orphaned process" in out


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- socket activation -------------------------------------------------------------------
@pytest.mark.skipif(
    not shutil.which("systemd-socket-activate"),
    reason="needs systemd-socket-activate (Debian package systemd; `make system-tools`)",
)
def test_socket_activation_serves_and_a_restart_refuses_nothing(tmp_path, port, title) -> None:
    options = {"base_dir": str(APP), "title": title, "port": port, "hostname": "127.0.0.1",
               "workers": 2, "env": "prod"}  # fmt: skip
    out = tmp_path / "wrapper.out"
    with out.open("w") as fh:
        wrapper = subprocess.Popen(
            ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=http",
             sys.executable, str(FIXTURES / "activation_restart.py"), json.dumps(options)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=str(ROOT),
            env={**os.environ, "HOME": TEST_HOME, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    try:
        # The first connection makes systemd-socket-activate start us; it waits queued.
        first = wait_until(lambda: _first_request(port), timeout=10)
        assert first.status == 200

        def served_by_master() -> int:
            pid = int(request(port, "/", timeout=30).text.split()[1])
            return psutil.Process(pid).ppid()

        old = served_by_master()
        assert psutil.Process(old).cmdline()[0].startswith("eggscripts-master")
        with Load(port, threads=3, limit=40) as load:
            time.sleep(0.5)
            wrapper.send_signal(signal.SIGUSR2)  # restart the master; the socket stays
            wait_until(lambda: served_by_master() != old, timeout=30, interval=0.2)
            time.sleep(0.5)
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(30)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
    log = out.read_text()
    assert load.failed == 0, (load.counts, load.errors[:3], log[-2000:])
    assert load.ok > 10
    assert log.count("exited 0") == 2, log[-2000:]


def _first_request(port: int) -> object:
    try:
        return request(port, "/", timeout=30)
    except ConnectionRefusedError:  # systemd-socket-activate not listening yet
        return None


def test_a_health_port_in_use_fails_the_start_in_one_line(port, title) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    hp = busy.getsockname()[1]
    try:
        cluster = Cluster(APP, title, port, workers=1, health_port=hp).start(wait=False)
        code, _, err = cluster.wait(20)
    finally:
        busy.close()
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--health-port" in lines[0], err
