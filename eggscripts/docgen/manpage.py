"""Man pages rendered from the click command tree (and so from the option registry).

click-man walks `group.commands` and misses lazily discovered commands, so the roff is
written here from the same objects `--help` uses: the usage line, the help text, and each
option's flags, metavar, help and `get_help_extra()` (default, env var, range). A test
regenerates the pages and fails when `man/` is stale or misses an option of `--help`.

    python -m eggscripts.docgen.manpage man/      # rewrite the pages (scripts/gen_docs.py does too)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

import click

from eggscripts import __version__
from eggscripts.base_command import EggScriptsCLI
from eggscripts.options.option_spec import SpecOption
from runtime.contract.option_defs import ENV_PREFIX

_SECTION = "1"
_MANUAL = "eggscripts manual"
_SPAN = re.compile(r"`([^`]+)`")


def escape(text: str) -> str:
    """Roff-escape running text: backslashes, hyphens, and a leading control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = _SPAN.sub(lambda m: f"\\fB{m.group(1)}\\fR", text)
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.MULTILINE)


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _body(paragraphs: list[str]) -> list[str]:
    lines: list[str] = []
    for para in paragraphs:
        lines += [".PP", escape(para)] if lines else [escape(para)]
    return lines


def _header(page: str, summary: str, version: str) -> list[str]:
    return [
        f'.TH "{escape(page.upper())}" "{_SECTION}" "" "{escape(version)}" "{_MANUAL}"',
        ".nh",
        ".ad l",
        ".SH NAME",
        f"{escape(page)} \\- {escape(summary)}",
    ]


def _option_lines(ctx: click.Context, param: click.Option) -> list[str]:
    flags = ", ".join(f"\\fB{escape(opt)}\\fR" for opt in (*param.opts, *param.secondary_opts))
    if not param.is_flag:
        flags += f" \\fI{escape(param.make_metavar(ctx))}\\fR"
    lines = [".TP", flags, escape(param.help or "")]
    extra = param.get_help_extra(ctx)
    notes = []
    if "default" in extra:
        notes.append(f"Default: {extra['default']}.")
    if extra.get("envvars"):
        notes.append(f"Environment: {', '.join(extra['envvars'])}.")
    if extra.get("range"):
        notes.append(f"Range: {extra['range']}.")
    if notes:
        lines += [".br", escape(" ".join(notes))]
    return lines


def _options(ctx: click.Context, command: click.Command) -> list[str]:
    lines = [".SH OPTIONS"]
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            lines += _option_lines(ctx, param)
    return lines


def _arguments(ctx: click.Context, command: click.Command) -> list[str]:
    args = [p for p in command.params if isinstance(p, click.Argument)]
    if not args:
        return []
    lines = [".SH ARGUMENTS"]
    for arg in args:
        lines += [".TP", f"\\fI{escape(arg.make_metavar(ctx))}\\fR"]
        if isinstance(arg.type, click.Choice):
            lines.append(escape("One of: " + ", ".join(map(str, arg.type.choices)) + "."))
        elif not arg.required:
            default = "the current directory" if arg.default == "." else arg.default
            lines.append(escape(f"Optional; default: {default}."))
    return lines


def _environment(ctx: click.Context, command: click.Command) -> list[str]:
    specs = [p.spec for p in command.get_params(ctx) if isinstance(p, SpecOption)]
    pairs = [(spec.envvar, spec.flag) for spec in specs if spec.envvar]
    prefixed = [spec for spec in specs if spec.prefixed_envvar]
    if not pairs and not prefixed:
        return []
    lines = [".SH ENVIRONMENT"]
    if prefixed:
        example = prefixed[0]
        which = "Every option" if len(prefixed) > 2 else " and ".join(s.flag for s in prefixed)
        text = (
            f"{which}, when not on the command line, e.g. {example.flag} from "
            f"{example.prefixed_envvar} (the name in capitals, dashes as underscores); it "
            "ranks above the egg variables below and above pyproject.toml."
        )
        lines += [".TP", f"\\fB{escape(ENV_PREFIX)}<OPTION>\\fR", escape(text)]
    for env, flag in pairs:
        lines += [".TP", f"\\fB{escape(env)}\\fR", escape(f"Default for {flag}.")]
    return lines


def _see_also(prog: str, names: Iterable[str], current: str | None) -> list[str]:
    pages = [prog] + [f"{prog}-{name}" for name in names]
    refs = [f"\\fB{escape(p)}\\fR({_SECTION})" for p in pages if p != current]
    return [".SH SEE ALSO", ",\n".join(refs)]


def _root_context(cli: EggScriptsCLI) -> click.Context:
    """A context like the one `main()` builds, so `-h` shows up as it does in --help."""
    return click.Context(cli, info_name=cli.name, **cli.context_settings)


def render_command(cli: EggScriptsCLI, name: str, version: str = __version__) -> str:
    """The page `<prog>-<name>.1`."""
    prog = cli.name or "eggscripts"
    commands = cli.all_commands()
    command = commands[name]
    with _root_context(cli) as parent:
        ctx = click.Context(command, info_name=name, parent=parent)
        page = f"{prog}-{name}"
        lines = _header(page, command.get_short_help_str(limit=200), version)
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += [".SH SYNOPSIS", f"\\fB{escape(prog)} {escape(name)}\\fR {escape(usage)}"]
        lines += [".SH DESCRIPTION", *_body(_paragraphs(command.help or ""))]
        lines += _arguments(ctx, command) + _options(ctx, command) + _environment(ctx, command)
        if command.epilog:
            examples = " ".join(command.epilog.split()).removeprefix("Examples: ")
            lines += [".SH EXAMPLES", escape(examples)]
        lines += _see_also(prog, commands, page)
    return "\n".join(lines) + "\n"


def render_root(cli: EggScriptsCLI, version: str = __version__) -> str:
    """The page `<prog>.1`: global options, the command list, exit statuses."""
    prog = cli.name or "eggscripts"
    commands = cli.all_commands()
    with _root_context(cli) as ctx:
        lines = _header(prog, _paragraphs(cli.help or "")[0], version)
        lines += [
            ".SH SYNOPSIS",
            f"\\fB{escape(prog)}\\fR [\\fB\\-\\-version\\fR] [\\fB\\-\\-help\\fR] "
            "\\fICOMMAND\\fR [\\fIARGS\\fR]",
            ".SH DESCRIPTION",
            *_body(_paragraphs(cli.help or "")[1:]),
        ]
        lines += _options(ctx, cli)
        lines.append(".SH COMMANDS")
        for name, command in commands.items():
            lines += [".TP", f"\\fB{escape(name)}\\fR", escape(command.get_short_help_str(200))]
            lines += [".br", f"See \\fB{escape(prog)}\\-{escape(name)}\\fR({_SECTION})."]
        lines += [
            ".SH EXIT STATUS",
            ".TP",
            "0",
            "Success (for stop: also when nothing was running).",
            ".TP",
            "1",
            escape("Failure: the cluster did not start or could not be stopped."),
            ".TP",
            "2",
            escape("Bad usage: unknown command or option, invalid value."),
            ".TP",
            "3",
            escape("start: an app worker failed to boot (died, could not fork, timed out)."),
            ".TP",
            "4",
            escape("start: the app failed to load (import, config, plugin, router, Boot)."),
            ".TP",
            "5",
            escape("start: the agent failed to start (died, could not spawn, timed out)."),
            ".PP",
            escape("A foreground start exits with the master's status; --daemon the same."),
            ".SH ENVIRONMENT",
            ".TP",
            "\\fBEGGSCRIPTS_DEBUG\\fR",
            escape("When set, an unexpected internal error prints its traceback."),
            ".TP",
            "\\fBEGGSCRIPTS_NO_EARLY_START\\fR",
            escape(
                "When set, start execs the master once its options are parsed, instead of "
                "starting the master's interpreter first (docs/CLI.md, Environment)."
            ),
            ".TP",
            "\\fBHOME\\fR",
            escape("Where `~` in log paths points."),
        ]
        lines += _see_also(prog, commands, prog)
    return "\n".join(lines) + "\n"


def render_all(cli: EggScriptsCLI) -> dict[str, str]:
    """File name -> roff source, for the root and every command."""
    prog = cli.name or "eggscripts"
    pages = {f"{prog}.{_SECTION}": render_root(cli)}
    for name in cli.all_commands():
        pages[f"{prog}-{name}.{_SECTION}"] = render_command(cli, name)
    return pages


def main(argv: list[str] | None = None) -> None:
    """Write every page into the directory given (default `man`)."""
    from pathlib import Path

    from eggscripts.__main__ import cli

    target = Path((argv if argv is not None else sys.argv[1:] or ["man"])[0])
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_all(cli()).items():
        (target / name).write_text(text)
        print(target / name)


if __name__ == "__main__":
    main()
