"""Side-by-side benchmark: eggscripts vs egg-scripts 2 + egg 3 vs gunicorn + UvicornWorker vs
raw `uvicorn --workers`, all serving the same hello world with 2 workers, in one run.

    python bench/run.py [--rounds 3] [--load-rounds 5] [--duration 2] [--kills 3]
                        [--json bench/results.json] [--only eggscripts,uvicorn]

Per contender, medians: daemon start -> answering, idle RSS of the whole process tree,
req/s and p99 latency (wrk -t2 -c64, interleaved short runs so outside load hits each
alike), CPU per request, stop (command issued -> every process gone), and under a paced
client (new connection per request) a worker SIGKILLed: requests lost and ms until the
replacement answers; then a reload under load (bench/reload_check.py: failed requests,
req/s during it, roll time). Ratios are to eggscripts. The same figures go to a JSON file.
Needs `wrk`; egg-scripts is installed from npm into a temp dir (skipped without npm),
gunicorn must be installed in this venv (`make bench` does both).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from measure import kill_check, tree_cpu_seconds, tree_rss_mib, wrk
from peers import HERE, ROOT, Contender, EggJs, Eggscripts, Gunicorn, Uvicorn
from reload_check import WINDOW, reload_check
from reload_check import table as reload_table

METRICS = (  # key, column title, format, lower is better
    ("start_ms", "start ms", "{:.0f}", True),
    ("rss_mib", "RSS MiB", "{:.0f}", True),
    ("rps", "req/s", "{:.0f}", False),
    ("p99_ms", "p99 ms", "{:.2f}", True),
    ("cpu_us", "CPU us/req", "{:.1f}", True),
    ("stop_ms", "stop ms", "{:.0f}", True),
    ("replace_ms", "replace ms", "{:.0f}", True),
)


def median(values: list[float]) -> float | None:
    clean = [v for v in values if v == v]  # NaN: a replacement that never answered
    return statistics.median(clean) if clean else None


def start_stop_rounds(makers: list[Callable[[], Contender]], rounds: int, rows: dict) -> None:
    for rnd in range(rounds):
        for make in makers:
            contender = make()
            ready = contender.start()
            try:
                time.sleep(0.5)
                rss = tree_rss_mib(contender.roots())
            finally:
                stop_ms = contender.stop()
            row = rows[contender.name]
            row["start_ms"].append(ready)
            row["rss_mib"].append(rss)
            row["stop_ms"].append(stop_ms)
            print(f"round {rnd + 1} {contender.name}: start {ready:.0f} ms, {rss:.0f} MiB, "
                  f"stop {stop_ms:.0f} ms", flush=True)  # fmt: skip


def load_rounds(contenders: list[Contender], rounds: int, duration: int, rows: dict) -> None:
    for rnd in range(rounds):
        for contender in contenders:
            cpu_before = tree_cpu_seconds(contender.roots())
            got = wrk(contender.port, duration)
            cpu = tree_cpu_seconds(contender.roots()) - cpu_before
            row = rows[contender.name]
            row["rps"].append(got["rps"])
            row["p99_ms"].append(got["p99_ms"])
            row["cpu_us"].append(cpu / max(got["done"], 1) * 1e6)
            row["wrk_failed"].append(got["failed"])
        print(f"load round {rnd + 1}/{rounds} done", flush=True)


def kill_rounds(makers: list[Callable[[], Contender]], kills: int, rows: dict) -> None:
    for make in makers:
        contender = make()
        contender.start()
        try:
            got = kill_check(contender.port, contender.workers, kills)
        finally:
            contender.stop()
        row = rows[contender.name]
        row["replace_ms"].append(got["replace_ms"])
        row["kill_sent"].append(got["sent"])
        row["kill_lost"].append(got["lost"])
        lost, sent, ms = got["lost"], got["sent"], got["replace_ms"]
        print(f"{contender.name}: SIGKILL x{kills}: {lost:.0f} of {sent:.0f} lost, "
              f"replacement answered after {ms:.0f} ms", flush=True)  # fmt: skip


def reload_rounds(makers: list[Callable[[], Contender]]) -> dict[str, dict[str, object]]:
    results = {}
    for make in makers:
        contender = make()
        if isinstance(contender, EggJs):
            results[contender.name] = reload_check(contender)
            continue
        contender.start()
        try:
            results[contender.name] = reload_check(contender)
        finally:
            contender.stop()
        print(f"{contender.name}: reload under load: {results[contender.name]}", flush=True)
    return results


def print_reload(results: dict[str, dict[str, object]]) -> None:
    print(f"\nreload under load (wrk -t2 -c64, {WINDOW} s window, reload 1 s in; req/s as a "
          "ratio to the mean of the same window just before and just after):")  # fmt: skip
    print("\n".join(reload_table(results)))


def summarize(rows: dict) -> dict:
    summary = {}
    for name, row in rows.items():
        summary[name] = {key: median(values) for key, values in row.items()}
        summary[name]["samples"] = row
    base = summary.get("eggscripts")
    for values in summary.values():
        values["ratio_to_eggscripts"] = {
            key: (values[key] / base[key] if base and base[key] and values[key] else None)
            for key, *_ in METRICS
        }
    return summary


def _cell(fmt: str, value: float | None) -> str:
    return "-" if value is None else fmt.format(value)


def print_table(summary: dict, notes: list[str], args: argparse.Namespace) -> None:
    print(f"\nmedians; start/stop: {args.rounds} rounds; load: {args.load_rounds} interleaved "
          f"runs of wrk -t2 -c64 -d{args.duration}s; {args.workers} workers; "
          f"SIGKILL x{args.kills} under a paced client")  # fmt: skip
    header = ["contender", *(title for _, title, _, _ in METRICS), "SIGKILL lost"]
    lines = [header]
    for name, values in summary.items():
        cells = [name, *(_cell(fmt, values[key]) for key, _, fmt, _ in METRICS)]
        cells.append(
            f"{_cell('{:.0f}', values['kill_lost'])}/{_cell('{:.0f}', values['kill_sent'])}"
        )
        lines.append(cells)
        ratios = values["ratio_to_eggscripts"]
        if name != "eggscripts":
            lines.append(["  x eggscripts", *(
                "-" if ratios[key] is None else f"{ratios[key]:.2f}x" for key, *_ in METRICS
            ), ""])  # fmt: skip
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    for row in lines:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(row, widths, strict=True))))  # fmt: skip
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    parser.add_argument("--only", default="", help="comma-separated name prefixes")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    home = tempfile.mkdtemp(prefix="eggscripts-bench-")
    npm_dir = Path(tempfile.mkdtemp(prefix="eggscripts-bench-npm-"))
    # An installed package has its bytecode compiled (pip does it); an editable checkout
    # under PYTHONDONTWRITEBYTECODE=1 would recompile every module on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "eggscripts", "runtime", "bench"],
                   cwd=str(ROOT), check=True)  # fmt: skip
    w = args.workers
    makers: list[Callable[[], Contender]] = [
        lambda: Eggscripts(w, home),
        lambda: EggJs(w, home, npm_dir),
        lambda: Gunicorn(w, home),
        lambda: Uvicorn(w, home),
    ]
    notes, chosen = [], []
    for make in makers:
        probe = make()
        if args.only and not any(probe.name.startswith(p) for p in args.only.split(",")):
            continue
        print(f"preparing {probe.name}...", flush=True)
        skipped = probe.prepare()
        if skipped:
            print(skipped)
            notes.append(skipped)
        else:
            chosen.append(make)
            notes.append(f"{probe.name}: {probe.note}")
    names = [make().name for make in chosen]
    keys = [k for k, *_ in METRICS] + ["wrk_failed", "kill_sent", "kill_lost"]
    rows = {name: {key: [] for key in keys} for name in names}
    try:
        start_stop_rounds(chosen, args.rounds, rows)
        running = []
        try:
            for make in chosen:
                running.append(make())
                running[-1].start()
            load_rounds(running, args.load_rounds, args.duration, rows)
        finally:
            for contender in running:
                contender.stop()
        kill_rounds(chosen, args.kills, rows)
        reloads = reload_rounds(chosen)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(npm_dir, ignore_errors=True)
    summary = summarize(rows)
    print_table(summary, notes, args)
    print_reload(reloads)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": vars(args) | {"json": str(args.json)},
        "contenders": summary,
        "notes": notes,
        "reload": reloads,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
