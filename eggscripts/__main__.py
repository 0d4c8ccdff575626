"""`eggscripts` / `python -m eggscripts`: the console script declared in setup.cfg."""

from __future__ import annotations

from collections.abc import Sequence

from eggscripts.base_command import EggScriptsCLI


def cli() -> EggScriptsCLI:
    """The root command; a function so tools (man pages, completion) get a fresh tree."""
    return EggScriptsCLI(name="eggscripts")


def main(args: Sequence[str] | None = None) -> None:
    cli().main(args=args)


if __name__ == "__main__":
    main()
