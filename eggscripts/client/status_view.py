"""`eggscripts status` for humans: a header per cluster and an aligned process table.

Built only from the documented JSON (docs/CLI.md), so what people read and what scripts
parse can never say different things.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = (
    "ROLE", "ID", "PID", "STATE", "AGE", "RSS", "CPU%", "REQUESTS", "INFLIGHT",
    "RESTARTS", "LAST RESTART", "HEARTBEAT",
)  # fmt: skip
NUMERIC = {"ID", "PID", "AGE", "RSS", "CPU%", "REQUESTS", "INFLIGHT", "RESTARTS", "HEARTBEAT"}


def duration(seconds: float | None) -> str:
    """`45s`, `3m12s`, `2h05m`, `3d04h`: short, and sortable by eye."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(value: int | None) -> str:
    if value is None:
        return "-"
    mib = value / 2**20
    return f"{mib / 1024:.1f}G" if mib >= 1024 else f"{mib:.1f}M"


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def process_cells(row: dict[str, Any]) -> list[str]:
    master = row.get("role") == "master"
    cpu = row.get("cpu")
    return [
        _text(row.get("role")),
        _text(row.get("id")),
        _text(row.get("pid")),
        _text(row.get("state")) + (" (saturated)" if row.get("saturated") else ""),
        duration(row.get("age")),
        size(row.get("rss")),
        "-" if cpu is None else f"{cpu:.1f}",
        _text(row.get("requests")),
        _text(row.get("inflight")),
        "-" if master else _text(row.get("restarts")),
        _text(row.get("last_restart_cause")),
        duration(row.get("heartbeat_age")),
    ]


def table(header: Sequence[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for cells in [list(header), *rows]:
        parts = [
            cell.rjust(width) if name in NUMERIC else cell.ljust(width)
            for cell, width, name in zip(cells, widths, header, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return lines


def render(cluster: dict[str, Any]) -> list[str]:
    """The lines for one cluster object of the JSON schema."""
    lines = [
        "  ".join(
            part
            for part in (
                cluster.get("title", "?"),
                cluster.get("state") or "unknown",
                "SATURATED" if cluster.get("saturated") else "",
                cluster.get("url") or "",
                f"master pid {cluster.get('master_pid')}",
                f"up {duration(cluster.get('uptime'))}" if cluster.get("uptime") else "",
                f"eggscripts {cluster['version']}" if cluster.get("version") else "",
                f"env {cluster['env']}" if cluster.get("env") else "",
            )
            if part
        )
    ]
    base, release = cluster.get("base_dir"), cluster.get("release_dir")
    if base:
        where = f"base dir {base}" + (f" -> {release}" if release and release != base else "")
        now = cluster.get("release_dir_now")
        if now and release and now != release:
            where += f" (now points to {now}: reload to serve it)"
        lines.append(where)
    if cluster.get("source") == "ps":
        lines.append("(no control channel: only what ps shows; restart it for full status)")
    rows = [process_cells(row) for row in cluster.get("processes", [])]
    lines += table(COLUMNS, rows)
    return lines
