"""The shape of one `start` option definition (runtime/contract/option_defs.py lists them):
what the CLI derives a click option from and what the runtime checks a value with."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

_SAME = "\0"  # `key` default: the option's own name


@dataclasses.dataclass(frozen=True)
class OptionDef:
    name: str
    help: str
    kind: type = str  # str, int, float or bool (a flag)
    default: Any = None  # None: computed at run time (see default_text) or none at all
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False  # the minimum itself is excluded
    choices: tuple[str, ...] = ()
    multiple: bool = False
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""  # what a value must look like, for the error line
    # How the default reads in --help and man pages when it is computed at run time.
    default_text: str | None = None
    aliases: tuple[str, ...] = ()
    envvar: str | None = None
    metavar: str | None = None
    in_pyproject: bool = True  # may `[tool.eggscripts]` in pyproject.toml set it?
    key: str = _SAME
    # A duration's documented unit ("ms" or "s"): the value may then carry its own unit
    # (`30s`, `500ms`, `2m`; runtime/contract/durations.py).
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.key == _SAME:
            object.__setattr__(self, "key", self.name)

    @property
    def is_flag(self) -> bool:
        return self.kind is bool

    def problem(self, value: Any) -> str | None:
        """Why `value` is not valid for this option (one line), or None."""
        if value is None and self.default is None:
            return None
        if self.multiple:
            values = value if isinstance(value, (list, tuple)) else [value]
            return next(filter(None, (self._one(v) for v in values)), None)
        return self._one(value)

    def _one(self, value: Any) -> str | None:
        name = self.key or self.name
        if not self._of_kind(value):
            return f"{name} must be {_KIND_WORDS[self.kind]}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.pattern is not None and not self.pattern.match(value):
            return f"{name} must look like {self.pattern_text}, got {value!r}"
        low, high = self.minimum, self.maximum
        if low is not None and (value < low or (self.min_open and value == low)):
            return f"{name} must be {'>' if self.min_open else '>='} {low}, got {value!r}"
        if high is not None and value > high:
            return f"{name} must be <= {high}, got {value!r}"
        return None

    def _of_kind(self, value: object) -> bool:
        kinds: tuple[type, ...] = (int, float) if self.kind is float else (self.kind,)
        return isinstance(value, kinds) and (self.kind is bool or not isinstance(value, bool))


_KIND_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def seconds(name: str, help: str, default: float) -> OptionDef:
    return OptionDef(name, help, float, default, minimum=0, min_open=True, metavar="S", unit="s")
