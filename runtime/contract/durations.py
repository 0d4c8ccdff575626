"""Durations as people type them: `30s`, `500ms`, `2m`, `1h`, or a bare number in the
option's documented unit (docs/CLI.md, "Durations").

A bare number below 1000 for an option counted in milliseconds is refused: `--timeout 30`
is a habit from gunicorn, where it means seconds, and here it would mean 30 ms. 0 stays
valid where the option allows it (it turns the feature off). No useful millisecond value
lies below one second without a unit being the clearer way to write it (`500ms`).
"""

from __future__ import annotations

import re

UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
AMBIGUOUS_BELOW_MS = 1000
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")


class DurationError(ValueError):
    """One line saying what is wrong with a duration."""


def parse(value: object, unit: str) -> float:
    """`value` (a string, or a number from pyproject.toml) in `unit` ("ms" or "s")."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration such as 30s or 500ms, got {value!r}")
    if isinstance(value, (int, float)):
        number, given = float(value), None
    else:
        match = _DURATION_RE.match(str(value))
        if match is None:
            raise DurationError(
                f"{value!r} is not a duration: a number with an optional unit "
                "(ms, s, m, h), e.g. 30s, 500ms, 2m"
            )
        number, given = float(match.group(1)), match.group(2)
    if given is None:
        if unit == "ms" and 0 < number < AMBIGUOUS_BELOW_MS:
            shown = f"{number:g}"
            raise DurationError(
                f"a bare {shown} means {shown} ms here (the unit is milliseconds), not "
                f"seconds: write {shown}s for seconds or {shown}ms if you mean it"
            )
        return number
    return number * UNITS[given] / UNITS[unit]


def in_unit(value: object, unit: str, kind: type) -> float | int:
    """`parse`, then an int for an integer option (which must come out whole)."""
    number = parse(value, unit)
    if kind is not int:
        return number
    if number != int(number):
        raise DurationError(f"{value!r} is not a whole number of {_WORDS[unit]}")
    return int(number)


_WORDS = {"ms": "milliseconds", "s": "seconds"}
