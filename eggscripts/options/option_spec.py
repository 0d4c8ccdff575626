"""`OptionSpec`: one command-line option, declared once (see `eggscripts/options/registry.py`).

`start`'s options are not declared here but derived (`OptionSpec.derive`) from their
definitions in the contract (`runtime/contract/option_defs.py`), which the runtime reads
too: the click type comes from the definition's kind, bounds and choices, unless the CLI
gives a richer one (a path that must exist, a title, an interpreter).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from eggscripts.options.param_types import ParamType
from runtime.contract import durations
from runtime.contract.option_defs import ENV_PREFIX
from runtime.contract.optiondef import OptionDef


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    name: str
    help: str
    type: Any = click.STRING
    default: Any = None
    # How the default reads in --help and man pages when it is computed at run time.
    default_text: str | None = None
    aliases: tuple[str, ...] = ()
    envvar: str | None = None  # an egg variable shown in --help (PORT, EGG_WORKERS...)
    # EGGSCRIPTS_<NAME>: every start option's, read before `envvar`, not shown per option.
    prefixed_envvar: str | None = None
    is_flag: bool = False
    multiple: bool = False
    metavar: str | None = None
    # May `[tool.eggscripts]` in pyproject.toml set it?
    in_pyproject: bool = True
    # Run as soon as the option is parsed, before the others read the environment.
    eager: Callable[[click.Context, click.Parameter, Any], Any] | None = None

    @classmethod
    def derive(cls, defn: OptionDef, type: Any = None) -> OptionSpec:
        """The click option of a contract definition; `type` overrides the derived one."""
        return cls(
            defn.name,
            defn.help,
            type=type or click_type(defn),
            default=defn.default,
            default_text=defn.default_text,
            aliases=defn.aliases,
            envvar=defn.envvar,
            prefixed_envvar=ENV_PREFIX + defn.name.upper(),
            is_flag=defn.is_flag,
            multiple=defn.multiple,
            metavar=defn.metavar,
            in_pyproject=defn.in_pyproject,
        )

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        """The `[tool.eggscripts]` key: the long flag without dashes (`ignore-stderr`)."""
        return self.name.replace("_", "-")

    @property
    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.is_flag:
            return "on" if self.default else "off"
        if self.default is None or self.default == ():
            return "none"
        return str(self.default)

    def to_click(self) -> SpecOption:
        # A flag pyproject.toml can turn on gets its `--no-` form to turn it off again.
        negatable = self.is_flag and self.in_pyproject
        decls = [f"{self.flag}/--no-{self.key}"] if negatable else [self.flag]
        return SpecOption(
            self,
            [*decls, *self.aliases, self.name],
            type=None if self.is_flag else self.type,
            is_flag=self.is_flag or None,
            default=None,
            multiple=self.multiple,
            envvar=[e for e in (self.prefixed_envvar, self.envvar) if e] or None,
            show_envvar=self.envvar is not None,
            callback=self.eager,
            is_eager=self.eager is not None,
            show_default=self.shown_default,
            metavar=self.metavar,
            help=self.help,
        )


def click_type(defn: OptionDef) -> Any:
    """The click type checking what `defn.problem` checks."""
    if defn.unit is not None:
        return DurationType(defn)
    if defn.choices:
        return click.Choice(list(defn.choices))
    if defn.kind is int and (defn.minimum is not None or defn.maximum is not None):
        low = None if defn.minimum is None else int(defn.minimum)
        high = None if defn.maximum is None else int(defn.maximum)
        return click.IntRange(low, high, min_open=defn.min_open)
    if defn.kind is float:
        return click.FloatRange(defn.minimum, defn.maximum, min_open=defn.min_open)
    return {int: click.INT, bool: click.BOOL}.get(defn.kind, click.STRING)


class DurationType(ParamType):
    """A duration in the definition's unit: `30s`, `500ms`, `2m` or a bare number
    (runtime/contract/durations.py), then the definition's bounds."""

    def __init__(self, defn: OptionDef) -> None:
        self.defn = defn
        self.name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = durations.in_unit(value, self.defn.unit or "s", self.defn.kind)
        except durations.DurationError as exc:
            self.fail(str(exc), param, ctx)
        problem = self.defn.problem(number)
        if problem is not None:
            self.fail(problem.split(" must ", 1)[-1].join(("must ", "")), param, ctx)
        return number

    def describe(self) -> str:
        """The bounds and the accepted forms, for --help and man pages."""
        d = self.defn
        bound = "" if d.minimum is None else f"x{'>' if d.min_open else '>='}{d.minimum:g}; "
        return f"{bound}a bare number is {d.unit}; units: ms, s, m, h (30s, 500ms, 2m)"


def duration(unit: str, kind: type = int, minimum: float | None = 1) -> DurationType:
    """The type of a command's own duration option (`stop --timeout`)."""
    return DurationType(OptionDef("duration", "", kind, minimum=minimum, unit=unit))


class SpecOption(click.Option):
    """A click option that remembers its spec and shows the default without click's
    parentheses (click brackets every textual default as if it were a description)."""

    def __init__(self, spec: OptionSpec, decls: list[str], **attrs: Any) -> None:
        super().__init__(decls, **attrs)
        self.spec = spec

    def get_error_hint(self, ctx: click.Context | None) -> str:
        """Name the environment variable only when the bad value came from it (click
        names it whenever the option has one, pointing users at the wrong culprit)."""
        from_env = (
            ctx is not None
            and self.name is not None
            and (ctx.get_parameter_source(self.name) == ParameterSource.ENVIRONMENT)
        )
        hint = " / ".join(f"'{opt}'" for opt in self.opts)
        if not from_env:
            return hint
        named = [self.spec.prefixed_envvar, self.spec.envvar]
        culprit = next((e for e in named if e and os.environ.get(e)), None)
        return f"{hint} (env var: '{culprit}')"

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        extra["default"] = self.spec.shown_default
        if self.spec.envvar is not None:  # EGGSCRIPTS_<NAME> is said once per command
            extra["envvars"] = (self.spec.envvar,)
        if isinstance(self.type, DurationType):
            extra["range"] = self.type.describe()
        return extra
