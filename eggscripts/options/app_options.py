"""Options of `start` that choose the application and tune its HTTP server.

Their definitions (help, defaults, bounds) are the contract's
(`runtime/contract/option_defs.py`, `APP_AND_HTTP`); here they become click options, the
`--app` one with its own type. Each option's key in the runtime's options JSON
(docs/INTERNALS.md §1) is its name, and its default is the runtime's: the same definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from eggscripts.options.option_spec import OptionSpec
from eggscripts.options.param_types import ParamType
from runtime.contract import app_option_defs, option_defs


class AppTargetType(ParamType):
    name = "module:attr"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not app_option_defs.APP_TARGET_RE.match(text):
            self.fail(f"{text!r} is not like {app_option_defs.APP.pattern_text}", param, ctx)
        return text


_TYPES: dict[str, ParamType] = {"app": AppTargetType()}
APP_SPECS: tuple[OptionSpec, ...] = tuple(
    OptionSpec.derive(d, _TYPES.get(d.name)) for d in app_option_defs.APPLICATION
)
HTTP_SPECS: tuple[OptionSpec, ...] = tuple(OptionSpec.derive(d) for d in app_option_defs.HTTP)


def runtime_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime JSON keys for these options (same names). Values equal to the default
    (which is the runtime's too) are left out, so the JSON stays as short as the command
    line that produced it."""
    return {
        d.key: values[d.name]
        for d in option_defs.SENT_WHEN_SET
        if values.get(d.name) is not None and values[d.name] != d.default
    }
