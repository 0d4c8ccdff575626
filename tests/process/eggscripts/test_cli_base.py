"""The root command: help, version, usage errors, lazy command discovery, and a
framework subclass adding its own command directory. Every case runs the real console
script or interpreter in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eggscripts import __version__
from tests.cli_helpers import cli_env, run_cli

COMMANDS = ("completion", "reload", "scale", "start", "status", "stop")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def test_version(env: dict[str, str]) -> None:
    result = run_cli("--version", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"eggscripts {__version__}\n",
        "",
    )


def test_help_lists_every_discovered_command(env: dict[str, str]) -> None:
    for flag in ("--help", "-h"):
        result = run_cli(flag, env=env)
        assert result.returncode == 0
        assert result.stdout.startswith("Usage: eggscripts [OPTIONS] COMMAND [ARGS]...")
        listed = result.stdout.split("Commands:")[1]
        for name in COMMANDS:
            assert f"  {name} " in listed


def test_no_command_shows_usage(env: dict[str, str]) -> None:
    result = run_cli(env=env)
    assert result.returncode in (0, 2)
    assert "Usage: eggscripts" in result.stdout + result.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(env: dict[str, str], name: str) -> None:
    result = run_cli(name, "--help", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: eggscripts {name} ")
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "Error: No such command 'bogus'."),
        (["--bogus"], "Error: No such option '--bogus'"),
        (["start", "--bogus"], "Error: No such option '--bogus'"),
        (["stop", "--port=1"], "Error: No such option '--port'"),
        (
            ["start", "--workers=0"],
            "Error: Invalid value for '--workers' / '-c' / '--cluster': 0 is not",
        ),
        (["start", "--title=a b"], "Error: Invalid value for '--title': 'a b': use only"),
        (["completion", "ksh"], "Error: Invalid value for 'SHELL': 'ksh' is not one of"),
    ],
)
def test_usage_errors_exit_2_with_usage_and_one_error_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line]
    assert lines[0].startswith("Usage: eggscripts")
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_commands_are_imported_only_when_needed() -> None:
    modules = set(_run_and_list(["stop", "--help"]))
    assert "eggscripts.cmd.stop" in modules
    assert "eggscripts.cmd.start" not in modules
    assert "eggscripts.cmd.completion" not in modules
    # Daemon machinery is only for `start --daemon`.
    assert (
        "eggscripts.launching.detach" not in modules
        and "eggscripts.launching.daemon_start" not in modules
    )
    modules = set(_run_and_list(["--version"]))
    assert not any(m.startswith("eggscripts.cmd.") for m in modules)


def test_hot_paths_import_only_what_they_need(tmp_path: Path) -> None:
    """psutil (~20 ms) only once a cluster was found, tomllib only when there is a
    pyproject.toml, the daemon machinery only for --daemon: `stop` with nothing to stop
    and `start --help` pay for none of them."""
    heavy = {"psutil", "tomllib", "daemon", "traceback", "eggscripts.launching.daemon_start"}
    for args in (["--version"], ["stop", "--title=nothing-runs-with-this-title"],
                 ["start", "--help"]):  # fmt: skip
        modules = set(_run_and_list(args, prefix="", cwd=tmp_path))  # no pyproject.toml there
        assert not heavy & modules, (args, heavy & modules)


def test_cli_imports_only_the_contract_of_the_runtime() -> None:
    """The CLI meets the runtime at `python -m runtime.start_cluster` and shares only the
    contract package with it (docs/INTERNALS.md): no app code, no master, no worker."""
    for args in (["--help"], ["start", "--help"], ["stop", "--help"], ["completion", "bash"]):
        loaded = {m for m in _run_and_list(args, prefix="runtime")}
        assert loaded <= {"runtime"} | {m for m in loaded if m.startswith("runtime.contract")}


def _run_and_list(
    args: list[str], prefix: str = "eggscripts", cwd: Path | None = None
) -> list[str]:
    """The modules (starting with `prefix`) a fresh interpreter imported to run `args`."""
    code = textwrap.dedent(
        f"""
        import sys
        from eggscripts.__main__ import cli
        try:
            cli().main({args!r})
        except SystemExit:
            pass
        print("MODULES", *sorted(m for m in sys.modules if m.startswith({prefix!r})))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("MODULES"))
    return line.split()[1:]


FRAMEWORK_CLI = """
from eggscripts.base_command import EggScriptsCLI

class FrameworkCLI(EggScriptsCLI):
    command_packages = (*EggScriptsCLI.command_packages, "fwcli.cmd")

if __name__ == "__main__":
    FrameworkCLI(name="fwscripts", version="9.9").main()
"""

HELLO_COMMAND = '''
import click

@click.command("hello")
@click.option("--who", default="world")
def command(who: str) -> None:
    """Say hello."""
    click.echo(f"hello {who}")
'''

BROKEN_COMMAND = '''
import click

@click.command("explode")
def command() -> None:
    """Fail unexpectedly."""
    raise RuntimeError("kaboom")
'''

OVERRIDDEN_STOP = '''
import click

@click.command("stop")
def command() -> None:
    """The framework's own stop."""
    click.echo("framework stop")
'''


@pytest.fixture
def framework(tmp_path: Path) -> Path:
    pkg = tmp_path / "fwcli"
    (pkg / "cmd").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(FRAMEWORK_CLI)
    (pkg / "cmd" / "__init__.py").write_text("")
    (pkg / "cmd" / "hello.py").write_text(HELLO_COMMAND)
    (pkg / "cmd" / "explode.py").write_text(BROKEN_COMMAND)
    (pkg / "cmd" / "stop.py").write_text(OVERRIDDEN_STOP)
    (pkg / "cmd" / "_private.py").write_text("raise ImportError('never imported')\n")
    return tmp_path


def _fw(framework: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fwcli", *args],
        cwd=framework,
        env=cli_env(framework, **env),
        capture_output=True,
        text=True,
    )


def test_framework_adds_and_overrides_commands(framework: Path) -> None:
    result = _fw(framework, "--help")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("Commands:")[1]
    for name in ("completion", "explode", "hello", "start", "stop"):
        assert f"  {name} " in listed
    assert "_private" not in listed
    assert _fw(framework, "--version").stdout == "fwscripts 9.9\n"
    assert _fw(framework, "hello", "--who=egg").stdout == "hello egg\n"
    assert _fw(framework, "stop").stdout == "framework stop\n"


def test_unexpected_error_is_one_line_without_traceback(framework: Path) -> None:
    result = _fw(framework, "explode")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "[eggscripts] internal error: RuntimeError: kaboom (EGGSCRIPTS_DEBUG=1 shows the traceback)"
    ]
    debug = _fw(framework, "explode", EGGSCRIPTS_DEBUG="1")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr


def test_framework_completion_uses_its_program_name(framework: Path) -> None:
    result = _fw(framework, "completion", "bash")
    assert result.returncode == 0
    assert "_FWSCRIPTS_COMPLETE=bash_complete" in result.stdout
    assert "complete -o nosort -F _fwscripts_completion fwscripts" in result.stdout
