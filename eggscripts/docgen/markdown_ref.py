"""Markdown option tables for docs/CLI.md, rendered from the click tree like the man pages.

scripts/gen_docs.py replaces the text between `<!-- options:<command> -->` and
`<!-- /options:<command> -->` in docs/CLI.md; a test fails when the tables are stale.
"""

from __future__ import annotations

import re

import click

from eggscripts.base_command import EggScriptsCLI


def options_table(cli: EggScriptsCLI, name: str) -> str:
    command = cli.all_commands()[name]
    with click.Context(cli, info_name=cli.name, **cli.context_settings) as parent:
        ctx = click.Context(command, info_name=name, parent=parent)
        rows = ["| option | default | environment | meaning |", "|---|---|---|---|"]
        for param in command.get_params(ctx):
            if not isinstance(param, click.Option) or param.hidden:
                continue
            flags = ", ".join(f"`{opt}`" for opt in (*param.opts, *param.secondary_opts))
            if not param.is_flag:
                flags += f" `{param.make_metavar(ctx)}`"
            extra = param.get_help_extra(ctx)
            default = f"`{extra['default']}`" if extra.get("default") else ""
            env = ", ".join(f"`{e}`" for e in extra.get("envvars", ()))
            text = (param.help or "").replace("|", "\\|")
            rows.append(f"| {flags} | {default} | {env} | {text} |")
    return "\n".join(rows)


def fill(markdown: str, cli: EggScriptsCLI) -> str:
    """`markdown` with every `options:<command>` block regenerated."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"<!-- options:{name} -->\n{options_table(cli, name)}\n<!-- /options:{name} -->"

    return re.sub(
        r"<!-- options:([a-z-]+) -->.*?<!-- /options:\1 -->", replace, markdown, flags=re.DOTALL
    )
