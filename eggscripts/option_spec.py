"""`OptionSpec`: one command-line option, declared once (see `eggscripts/options.py`).

Split from the registry so that modules declaring a group of options (`app_options.py`)
can import it without importing the registry that lists them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click
from click.core import ParameterSource


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    name: str
    help: str
    type: Any = click.STRING
    default: Any = None
    # How the default reads in --help and man pages when it is computed at run time.
    default_text: str | None = None
    aliases: tuple[str, ...] = ()
    envvar: str | None = None
    is_flag: bool = False
    multiple: bool = False
    metavar: str | None = None
    # May `[tool.eggscripts]` in pyproject.toml set it?
    in_pyproject: bool = True

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
            envvar=self.envvar,
            show_envvar=self.envvar is not None,
            show_default=self.shown_default,
            metavar=self.metavar,
            help=self.help,
        )


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
        return f"{hint} (env var: '{self.envvar}')" if from_env else hint

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        extra["default"] = self.spec.shown_default
        return extra
