"""The CLI's failure vocabulary.

Commands raise these instead of calling `sys.exit` or printing tracebacks: click turns a
`ClickException` into one line on stderr plus its `exit_code`, so every failure a user can
cause looks the same and scripts can rely on the status (1 = failed, 2 = bad usage).
"""

from __future__ import annotations

from typing import IO, Any

import click

PREFIX = "[eggscripts]"


class EggScriptsError(click.ClickException):
    """Something went wrong that is not the user's typing: exit 1, one line on stderr."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{PREFIX} error: {self.format_message()}", file=file, err=file is None)


class AlreadyRunning(EggScriptsError):
    """A second cluster with the same title would make `stop --title` ambiguous."""


class StartFailed(EggScriptsError):
    """The cluster did not report ready; whatever was started has been stopped again.

    Exits with the master's own status when it said one (docs/CLI.md, exit statuses: 3 an
    app worker failed to boot, 4 the app failed to load, 5 the agent failed to start), else
    1, so a deploy script branches the same way on a daemon start as on a foreground one."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance


class StopFailed(EggScriptsError):
    """Some process of the cluster could not be stopped (e.g. it belongs to another user)."""


class ConfigError(click.UsageError):
    """A bad value in `[tool.eggscripts]`: the same exit status (2) as a bad option."""

    def show(self, file: IO[Any] | None = None) -> None:
        # No usage line: the mistake is in a file, not on the command line.
        click.echo(f"{PREFIX} error: {self.format_message()}", file=file, err=file is None)
