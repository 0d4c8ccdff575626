"""`eggscripts completion SHELL`: print the shell completion script.

The scripts are click's own (`_EGGSCRIPTS_COMPLETE=bash_source` produces the same text):
they call back into `eggscripts` at every TAB, so completions always match the installed
version, including commands added by a framework's command package.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from eggscripts.base_command import complete_var

SHELLS = ("bash", "zsh", "fish")
# Where each script goes, by each shell's convention (also the names in completions/).
FILE_NAMES = {"bash": "{prog}", "zsh": "_{prog}", "fish": "{prog}.fish"}


def script(cli: click.Command, prog_name: str, shell: str) -> str:
    """The completion script of `cli` for `shell`, exactly as click generates it."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - SHELLS are all built into click
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return cls(cli, {}, prog_name, complete_var(prog_name)).source()


@click.command(
    "completion",
    short_help="Print the shell completion script for bash, zsh or fish.",
    epilog="Examples: `eggscripts completion bash > ~/.local/share/bash-completion/"
    'completions/eggscripts`; `eval "$(eggscripts completion zsh)"` in ~/.zshrc; '
    "`eggscripts completion fish > ~/.config/fish/completions/eggscripts.fish`.",
)
@click.argument("shell", type=click.Choice(SHELLS), metavar="SHELL")
@click.pass_context
def command(ctx: click.Context, /, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish) on stdout.

    Install it where your shell looks for completions, or evaluate it from your shell's
    startup file. The same scripts are shipped in the completions/ directory.
    """
    root = ctx.find_root()
    click.echo(script(root.command, root.info_name or "eggscripts", shell), nl=False)
