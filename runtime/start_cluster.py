"""`python -m runtime.start_cluster '<options JSON>'`: the only door from the CLI into the
runtime (docs/INTERNALS.md §1). Builds the master and exits with its status."""

from __future__ import annotations

import sys

from runtime.errors import OptionsError, report
from runtime.exitcodes import ExitCode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m runtime.start_cluster '<options JSON>'", file=sys.stderr)
        return ExitCode.USAGE
    from runtime.options import ClusterOptions

    try:
        options = ClusterOptions.from_json(argv[0])
    except OptionsError as exc:
        report(str(exc))
        return ExitCode.USAGE
    from runtime.master.loop import Master

    return Master(options).run()


if __name__ == "__main__":
    sys.exit(main())
