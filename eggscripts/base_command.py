"""A common-bin-like root command: subcommands are the modules of command packages.

Each module `<pkg>/<name>.py` of a command package defines a click command named
`command`; the module name (`_` read as `-`) is the subcommand name. Modules are imported
only when their command runs, is completed or its help is shown (click's LazyGroup
recipe), so `eggscripts stop` never pays for, or breaks on, what `start` imports.

A framework ships its own CLI by subclassing and adding a package; later packages win, so
it may also replace a built-in command::

    class MyFrameworkCLI(EggScriptsCLI):
        command_packages = (*EggScriptsCLI.command_packages, "myframework.cmd")

    def main() -> None:
        MyFrameworkCLI(name="myframework", version="1.2.0").main()
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from eggscripts import __version__
from eggscripts.errors import PREFIX

ROOT_HELP = """Start, inspect, scale, reload and stop egg-style Python web clusters.

A cluster is one master process, one agent and N app workers sharing one port. `start`
launches it (in the foreground, or detached with --daemon and waits until it is ready),
`stop` finds it by its process title and stops it gracefully, `restart` stops it and
starts it again with the same options; `status`, `scale` and
`reload` talk to its master over a private control socket; `dev` runs it in the
foreground and reloads it whenever the app's files change. Run `eggscripts COMMAND
--help` for the options of each command.
"""


# Options users bring from other tools (gunicorn, uvicorn, pm2): the one-line hint names
# what does that here, instead of click's nearest spelling (`--reload` -> `--threads`).
OPTION_HINTS = {
    "--reload": "to restart the workers of a running cluster use `eggscripts reload`; to "
    "restart on file changes run `eggscripts dev`",
    "--pid": "clusters are found by their title: --title=TITLE",
    "--pidfile": "clusters are found by their title: --title=TITLE",
}


def complete_var(prog_name: str) -> str:
    """The environment variable click's completion scripts set (`_EGGSCRIPTS_COMPLETE`)."""
    return "_" + prog_name.replace("-", "_").replace(".", "_").upper() + "_COMPLETE"


class EggScriptsCLI(click.Group):
    command_packages: tuple[str, ...] = ("eggscripts.cmd",)

    def __init__(self, name: str = "eggscripts", version: str = __version__, **attrs: Any) -> None:
        attrs.setdefault("help", ROOT_HELP)
        attrs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(name=name, **attrs)
        self.version = version
        self.params.append(
            click.Option(
                ["--version"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                help="Show the version and exit.",
                callback=self._print_version,
            )
        )
        self._modules: dict[str, str] | None = None

    def _print_version(self, ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            click.echo(f"{self.name} {self.version}")
            ctx.exit()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`eggscripts` alone prints the help and succeeds (click 8.2+ exits 2 there)."""
        if not args and not ctx.resilient_parsing:  # (completion parses no words too)
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            hint = OPTION_HINTS.get(exc.option_name)
            if hint is None:
                raise
            message = f"No such option {exc.option_name!r}: {hint}."
            raise click.NoSuchOption(exc.option_name, message, ctx=exc.ctx) from None

    # ---- discovery ------------------------------------------------------------------

    def command_modules(self) -> dict[str, str]:
        """Command name -> module name, found by listing (not importing) the packages."""
        if self._modules is None:
            import pkgutil

            found: dict[str, str] = {}
            for package in self.command_packages:
                spec = importlib.util.find_spec(package)
                if spec is None or spec.submodule_search_locations is None:
                    raise RuntimeError(f"command package {package!r} not found")
                for info in pkgutil.iter_modules(spec.submodule_search_locations):
                    if not info.name.startswith("_"):
                        found[info.name.replace("_", "-")] = f"{package}.{info.name}"
            self._modules = found
        return self._modules

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.command_modules()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        module_name = self.command_modules().get(cmd_name)
        if module_name is None:
            return None
        command = getattr(importlib.import_module(module_name), "command", None)
        if not isinstance(command, click.Command):
            raise RuntimeError(f"{module_name} must define `command`, a click command")
        self.commands[cmd_name] = command
        return command

    def all_commands(self) -> dict[str, click.Command]:
        """Every command, imported: for man pages and docs, which need them all anyway."""
        with click.Context(self) as ctx:
            commands = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        return {name: cmd for name, cmd in commands.items() if cmd is not None}

    # ---- entry point ----------------------------------------------------------------

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        """Run the CLI; an unexpected exception becomes one line (the traceback only with
        EGGSCRIPTS_DEBUG=1), because users must never see a wall of Python internals."""
        prog = prog_name or self.name or "eggscripts"
        try:
            super().main(args=args, prog_name=prog, complete_var=complete_var(prog), **extra)
        except Exception as exc:  # the last line of defence
            if os.environ.get("EGGSCRIPTS_DEBUG"):
                import traceback

                traceback.print_exc()
            else:
                detail = f"{type(exc).__name__}: {exc}"
                click.echo(
                    f"{PREFIX} internal error: {detail} (EGGSCRIPTS_DEBUG=1 shows the traceback)",
                    err=True,
                )
            sys.exit(1)
        sys.exit(0)  # pragma: no cover - click's standalone mode always exits
