"""The control directory (runtime/contract/paths.py) as the CLI resolves it: apart from
the control client, so `start`, which only needs the directory, imports nothing of the
control channel."""

from __future__ import annotations

import click

from eggscripts.errors import PREFIX, EggScriptsError
from runtime.contract import paths


class UnsafeControlDir(EggScriptsError):
    """Neither the control directory nor its fallback is private to this user."""


def place(create: bool = False) -> paths.Place:
    """The control directory (runtime/contract/paths.py), its notice printed once."""
    try:
        found = paths.ensure_dir() if create else paths.find_dir()
    except paths.UnsafeDir as exc:
        raise UnsafeControlDir(f"no private control directory: {exc}") from None
    if found.notice and found.notice not in _noticed:
        _noticed.add(found.notice)
        click.echo(f"{PREFIX} warning: {found.notice}", err=True)
    return found


_noticed: set[str] = set()
