"""Bounds on a config's shape, checked as each file is read (issue 9, defects 6 and 8).

YAML aliases share one object between many places: a 10-line file of 9 levels x 9 aliases
loads in milliseconds as 90 objects, but anything that walks it as a tree (the deep merge's
provenance, the secret masking of the config dump, the JSON dump) visits 9**9 values and
ran an agent out of memory. The check below walks each distinct object once (memoised by
id), so measuring the bomb costs what loading it did, and refuses, in one line naming the
user's file, a config that would expand past `MAX_VALUES`, nest deeper than `MAX_DEPTH`,
or contain itself (a recursive alias). Sizes are generous for real configs: the largest
we know of hold a few thousand values and nest fewer than 15 levels.
"""

from __future__ import annotations

import os
from typing import Any

from runtime.process.errors import StartupError

MAX_VALUES = 100_000  # once aliases are expanded: what merge, mask and dump will visit
MAX_DEPTH = 64
MAX_FILE_BYTES = 10 * 1024 * 1024  # a YAML config file; read whole before parsing


def check_file_size(path: str) -> None:
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # the read that follows reports it
    if size > MAX_FILE_BYTES:
        raise StartupError(
            f"{path}: config file too large ({size // (1024 * 1024)} MB; the limit is "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MB)"
        )


def check_shape(value: Any, path: str) -> None:
    """Raise StartupError if `value` (a config file's content) is cyclic, too deep, or too
    large once shared structure is counted at every place it appears."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded values, depth)
    open_: set[int] = set()

    def measure(node: Any, level: int) -> tuple[int, int]:
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            return 1, 0
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise StartupError(f"{path}: config contains itself (a recursive YAML alias)")
        if level >= MAX_DEPTH:
            raise StartupError(f"{path}: config nested deeper than {MAX_DEPTH} levels")
        open_.add(key)
        total, depth = 1, 0
        for child in children:
            count, child_depth = measure(child, level + 1)
            total += count
            depth = max(depth, child_depth + 1)
        open_.discard(key)
        sizes[key] = (total, depth)
        return total, depth

    total, _ = measure(value, 0)
    if total > MAX_VALUES:
        raise StartupError(
            f"{path}: config too large: {total:,} values once YAML aliases are expanded "
            f"(the limit is {MAX_VALUES:,})"
        )
