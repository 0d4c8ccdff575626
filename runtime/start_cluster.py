"""`python -m runtime.start_cluster '<options JSON>'`: the only door from the CLI into the
runtime (docs/INTERNALS.md §1). Builds the master and exits with its status. With
`--handoff FD` it starts before the CLI has parsed its options and reads them from FD
(the early start, runtime/process/warm_start.py).

Before the master exists this process takes what must hold for its whole life: the title
lock (one cluster per title, runtime/process/title_lock_holder.py) and the open-files limit.
"""

from __future__ import annotations

import sys

from runtime.contract import handoff
from runtime.contract.exitcodes import ExitCode
from runtime.process.errors import OptionsError, StartupError, report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == handoff.FLAG:  # started before the CLI parsed its options
        from runtime.process import warm_start

        return warm_start.run(argv, main)
    if len(argv) != 1:
        print("usage: python -m runtime.start_cluster '<options JSON>'", file=sys.stderr)
        return ExitCode.USAGE
    from runtime.process.cluster_options import ClusterOptions

    try:
        options = ClusterOptions.from_json(argv[0])
    except OptionsError as exc:
        report(str(exc))
        return ExitCode.USAGE
    from runtime.process.import_path import enter_as_master

    try:
        enter_as_master(options.base_dir)
    except OSError as exc:
        report(f"cannot enter {options.base_dir}: {exc.strerror}")
        return ExitCode.USAGE
    from runtime.process.privileges import export_owner, resolve

    try:
        export_owner(resolve(options))  # --user/--group: what the master creates is theirs
    except OptionsError as exc:
        report(str(exc))
        return ExitCode.USAGE
    from runtime.process.title_lock_holder import hold_title, release_title

    successor = options.handover_fd is not None  # started by an upgrade: not the owner yet
    try:  # held until this process exits
        held = hold_title(
            options.title, options.lock_fd, options.control_path, claim_title=not successor
        )
    except StartupError as exc:
        return refuse(options.ready_fd, str(exc))
    import dataclasses

    options = dataclasses.replace(options, lock_fd=held.fd)  # an upgrade hands it down
    from runtime.master.loop import Master
    from runtime.process.limits import raise_open_files_limit

    raise_open_files_limit()  # before any fork: every child inherits it
    master = Master(options)
    try:
        return master.run()
    finally:
        release_title(held)  # a stopped cluster leaves no lock file behind (owner only)


def refuse(ready_fd: int | None, text: str) -> int:
    """Fail before the master exists: one line on stderr and on the ready channel."""
    from runtime.contract.messages import Action
    from runtime.master.production.ready_channel import ParentChannel

    report(text)
    parent = ParentChannel(ready_fd)
    parent.notify(Action.STARTUP_ERROR, {"message": text})
    parent.close()
    return ExitCode.ERROR


if __name__ == "__main__":
    from runtime.process.quick_exit import exit_process

    exit_process(main())
