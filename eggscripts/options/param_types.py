"""Click parameter types that validate at parse time, so a bad value is a usage error
(exit 2, one line) before anything is started, whichever source it came from."""

from __future__ import annotations

import os
import re
from typing import Any

import click

from runtime.contract.titles import TITLE_RE

TYPE_CHECKING = False
if TYPE_CHECKING:  # click 8.2+ types ParamType by its output and input; 8.1 cannot subscript it
    ParamType = click.ParamType[Any, Any]
else:
    ParamType = click.ParamType
_MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class TitleType(ParamType):
    """Titles end up in process titles that `stop` splits on spaces and matches exactly;
    anything outside `[A-Za-z0-9._-]` would make that matching ambiguous."""

    name = "title"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not TITLE_RE.match(text):
            self.fail(f"{text!r}: use only letters, digits, '.', '_' and '-'", param, ctx)
        return text


class RunningTitleType(TitleType):
    """The title of a running cluster: completes the titles of the user's running masters
    (read from /proc, no psutil, so a TAB stays instant)."""

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        from eggscripts.finding import procs

        return [CompletionItem(t) for t in procs.running_titles() if t.startswith(incomplete)]


class PathType(click.Path):
    """A click.Path that expands `~` from $HOME and returns an absolute path without
    resolving symlinks (a virtualenv's `bin/python` is a symlink that must stay one)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        value = os.path.abspath(os.path.expanduser(os.fspath(value)))
        return super().convert(value, param, ctx)


class PythonType(PathType):
    """An interpreter: a path, or a bare name looked up on PATH like a shell would."""

    name = "python"

    def __init__(self) -> None:
        super().__init__(exists=True, dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = os.fspath(value)
        if os.sep not in text and not text.startswith("~"):
            import shutil  # only for a bare name: shutil costs more than the rest of types

            found = shutil.which(text)
            if found is None:
                self.fail(f"{text!r} is not an executable on PATH", param, ctx)
            text = found
        path = super().convert(text, param, ctx)
        if not os.access(path, os.X_OK):
            self.fail(f"{path!r} is not executable", param, ctx)
        return path


class ModuleOrPathType(ParamType):
    """`--require` / `--framework` values: a dotted import name, or a path (anything with a
    `/` or ending in `.py`), which the command resolves against BASE_DIR later."""

    name = "module"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not (is_path(text) or _MODULE_RE.fullmatch(text)):
            self.fail(f"{text!r} is neither an import name nor a path", param, ctx)
        return text


def is_path(text: str) -> bool:
    return "/" in text or text.endswith(".py") or text.startswith(("~", "."))


class HostPortType(ParamType):
    """`[HOST:]PORT` (`9000`, `0.0.0.0:9000`, `[::1]:9000`) -> (host, port); the host
    defaults to loopback, so a metrics endpoint is never exposed by accident."""

    name = "host_port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        host, sep, port = text.rpartition(":")
        host = host.strip("[]") if sep else "127.0.0.1"
        if not port.isdigit() or not 1 <= int(port) <= 65535 or (sep and not host):
            self.fail(f"{text!r}: expected PORT or HOST:PORT (port 1-65535)", param, ctx)
        return host, int(port)
