"""Exceptions that carry a message a user can act on.

The process runtime prints `str(exc)` of a `StartupError` as one line; it never prints a
traceback for one. Anything else escaping a child's boot is turned into one line by
`describe_exception` (file, line, type, message) so the user still sees where it failed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

# Every line the runtime writes for a person starts with this (the CLI's is the same).
PREFIX = "[eggscripts]"


def report(text: str) -> None:
    """One line on stderr that can never raise: stderr may be a file on a full disk, a
    closed pipe, or gone, and the caller's real error must still go on its way."""
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{PREFIX} {text}\n")
        sys.stderr.flush()


class EggscriptsError(Exception):
    """Base of errors with a user-facing, one-line message."""


class StartupError(EggscriptsError):
    """The app or agent cannot start; the message names the file, hook or plugin."""


class OptionsError(EggscriptsError):
    """The options handed to `runtime.start_cluster` are invalid."""


def describe_exception(exc: BaseException, base_dir: str | None = None) -> str:
    """One line `<file>:<line>: <Type>: <message>` pointing at the innermost app frame.

    The innermost frame inside `base_dir` is the one the user can fix; library frames below
    it (our loader, importlib) would only hide it.
    """
    if isinstance(exc, EggscriptsError):
        return str(exc)
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}: "
        message = f"{type(exc).__name__}: {exc.msg}"
        return where + message
    frames = traceback.extract_tb(exc.__traceback__)
    chosen = None
    for frame in frames:
        if base_dir is None or os.path.abspath(frame.filename).startswith(base_dir):
            chosen = frame
    if chosen is None and frames:
        chosen = frames[-1]
    if chosen is not None:
        where = f"{chosen.filename}:{chosen.lineno}: "
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{where}{type(exc).__name__}: {text}".rstrip(": ")
