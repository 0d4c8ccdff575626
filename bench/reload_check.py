"""Reload under load: what a deploy costs the users of each contender.

wrk runs for a fixed window; shortly after it starts, the contender is told to reload the
way its users do it (`eggscripts reload`, `kill -HUP` for gunicorn and uvicorn); we wait
until every worker pid has been replaced. Reported: requests failed during the window
(non-2xx + socket errors, as wrk counts them), req/s over the window as a ratio to the
mean of the same window without a reload just before and just after (on a machine shared
with other jobs the rate drifts; bracketing moves the reference with it), and how long
the roll took. The window is
longer than the roll, so a dip is diluted, never hidden: a ratio under 1 is the cost.
egg-scripts has no reload (egg refused the feature, egg #3109): not applicable.

    python bench/reload_check.py [--rounds 1] [--json PATH]

runs just this check for eggscripts, gunicorn (HUP) and uvicorn (SIGHUP) side by side and
prints one table (`make bench` runs it as its last part).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from measure import wrk
from peers import BIN, Contender, EggJs, Eggscripts, Gunicorn, Uvicorn

WINDOW = 6  # seconds of wrk per measurement
TRIGGER_AFTER = 1.0  # seconds into the window
ROLL_TIMEOUT = 60.0


def reload_check(contender: Contender) -> dict[str, object]:
    if isinstance(contender, EggJs):
        return {"status": "n/a: egg-scripts has no reload (egg #3109)"}
    before = wrk(contender.port, WINDOW)
    result: dict[str, object] = {}
    during: dict[str, float] = {}
    load = threading.Thread(target=lambda: during.update(wrk(contender.port, WINDOW)))
    load.start()
    time.sleep(TRIGGER_AFTER)
    old = set(contender.workers())
    old_agent = set(contender.agents()) if isinstance(contender, Eggscripts) else set()
    started = time.perf_counter()
    failure = trigger(contender)
    if failure is None:
        failure = wait_replaced(contender, old)
    roll_ms = (time.perf_counter() - started) * 1000
    load.join()
    if failure is not None:
        return {"status": f"not measured: {failure}"}
    after = wrk(contender.port, WINDOW)
    reference = (before["rps"] + after["rps"]) / 2
    result.update(
        status="measured",
        roll_ms=roll_ms,
        failed=during["failed"],
        rps_before=before["rps"],
        rps_during=during["rps"],
        rps_after=after["rps"],
        rps_ratio=during["rps"] / reference if reference else None,
        p99_ms_during=during["p99_ms"],
    )
    if isinstance(contender, Eggscripts):
        agents = set(contender.agents())
        result["agent_replaced"] = bool(agents) and not agents & old_agent
    return result


def trigger(contender: Contender) -> str | None:
    """Ask for the reload; a one-line reason when the contender cannot."""
    if isinstance(contender, Eggscripts):
        # The operator's shell is not the load generator: in the bench's session the CLI's
        # interpreter start would take its CPU from wrk's autogroup (peers.Uvicorn.start),
        # and `kill -HUP` costs the peers nothing there.
        cmd = [str(BIN / "eggscripts"), "reload", f"--title={contender.title}"]
        done = subprocess.run(
            cmd, env=contender.env, capture_output=True, text=True, start_new_session=True
        )
        if done.returncode != 0:
            return (done.stderr.strip().splitlines() or ["reload failed"])[-1]
        return None
    os.kill(contender.roots()[0], signal.SIGHUP)
    return None


def wait_replaced(contender: Contender, old: set[int]) -> str | None:
    deadline = time.perf_counter() + ROLL_TIMEOUT
    while time.perf_counter() < deadline:
        now = set(contender.workers())
        if len(now) == contender.workers_count and not now & old:
            return None
        time.sleep(0.01)
    return f"workers not all replaced within {ROLL_TIMEOUT:.0f}s"


def table(results: dict[str, dict[str, object]]) -> list[str]:
    """The Markdown table README quotes (one row per contender)."""
    lines = [
        "| contender | how | failed requests | req/s before / during / after | ratio | roll ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    how = {"eggscripts": "`eggscripts reload`", "gunicorn + UvicornWorker": "`kill -HUP`",
           "uvicorn --workers": "`kill -HUP`"}  # fmt: skip
    for name, got in results.items():
        if got.get("status") != "measured":
            lines.append(f"| {name} | {how.get(name, '-')} | {got['status']} | | | |")
            continue
        rates = f"{got['rps_before']:.0f} / {got['rps_during']:.0f} / {got['rps_after']:.0f}"
        lines.append(
            f"| {name} | {how.get(name, '-')} | {got['failed']:.0f} | {rates} "
            f"| {got['rps_ratio']:.2f}x | {got['roll_ms']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="reload under load, side by side")
    parser.add_argument("--only", default="", help="comma-separated name prefixes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="eggscripts-bench-reload-")
    results: dict[str, dict[str, object]] = {}
    for make in (Eggscripts, Gunicorn, Uvicorn):
        contender = make(2, home)
        if args.only and not any(contender.name.startswith(p) for p in args.only.split(",")):
            continue
        skipped = contender.prepare()
        if skipped:
            results[contender.name] = {"status": skipped}
            continue
        contender.start()
        try:
            results[contender.name] = reload_check(contender)
        finally:
            contender.stop()
        print(f"{contender.name}: {results[contender.name]}", flush=True)
    print("\n".join(table(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
