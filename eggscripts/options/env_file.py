"""`--env-file PATH`: a dotenv file read into this process's environment (python-dotenv
parses it: quoting, `export`, comments, `${VAR}` expansion), before the other options read
theirs.

The option is eager, so `EGGSCRIPTS_<OPTION>`, PORT, EGG_WORKERS or EGG_SERVER_ENV set in
the file count as environment for the options, and the cluster, launched with this
environment, sees every variable. A variable already in the real environment wins over
the file, as with uvicorn's and docker's env files (docs/CLI.md, "Environment").
"""

from __future__ import annotations

import os
from typing import Any

import click


def load(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None or ctx.resilient_parsing:
        return value
    path = os.path.expanduser(str(value))
    if not os.path.isfile(path):
        raise click.BadParameter(f"{path} does not exist or is not a file")
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from None
    for name, text in values.items():
        if text is not None and name not in os.environ:
            os.environ[name] = text
    return os.path.abspath(path)  # as given to a systemd unit, which runs elsewhere
