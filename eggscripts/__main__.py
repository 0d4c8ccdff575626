"""`eggscripts` / `python -m eggscripts`: the console script declared in setup.cfg."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's (9 ms): this runs before the early start's fork
if TYPE_CHECKING:
    from collections.abc import Sequence

    from eggscripts.base_command import EggScriptsCLI


def cli() -> EggScriptsCLI:
    """The root command; a function so tools (man pages, completion) get a fresh tree."""
    from eggscripts.base_command import EggScriptsCLI

    return EggScriptsCLI(name="eggscripts")


def main(args: Sequence[str] | None = None) -> None:
    """The command line; a real one (`args` None) may start the runtime before click is
    even imported (eggscripts/launching/early_start.py)."""
    if args is None:
        from eggscripts.launching import early_start

        early_start.begin(sys.argv[1:])
    cli().main(args=args)


if __name__ == "__main__":
    main()
