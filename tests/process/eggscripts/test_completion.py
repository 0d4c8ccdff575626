"""Shell completion (issue 5): the scripts come from click, are checked in, and work in a
real bash against the installed console script."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eggscripts.__main__ import cli
from eggscripts.cmd import completion
from tests.cli_helpers import EGGSCRIPTS, cli_env, run_cli
from tests.helpers import ROOT

COMPLETIONS = ROOT / "completions"


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_checked_in_scripts_are_current(tmp_path: Path, shell: str) -> None:
    """Regenerate with `python scripts/gen_docs.py` when this fails."""
    printed = run_cli("completion", shell, env=cli_env(tmp_path))
    assert printed.returncode == 0, printed.stderr
    name = completion.FILE_NAMES[shell].format(prog="eggscripts")
    assert (COMPLETIONS / name).read_text() == printed.stdout
    assert printed.stdout == completion.script(cli(), "eggscripts", shell)


def test_scripts_match_clicks_own_generator(tmp_path: Path) -> None:
    for shell in completion.SHELLS:
        env = cli_env(tmp_path, _EGGSCRIPTS_COMPLETE=f"{shell}_source")
        source = subprocess.run([EGGSCRIPTS], env=env, capture_output=True, text=True)
        assert source.returncode == 0
        assert source.stdout == run_cli("completion", shell, env=cli_env(tmp_path)).stdout


BASH_DRIVER = """
source {script}
complete -p eggscripts
complete_words() {{
    COMP_WORDS=("$@")
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
    COMPREPLY=()
    _eggscripts_completion eggscripts
    echo "${{COMPREPLY[*]}}"
}}
complete_words eggscripts st
complete_words eggscripts start --ti
complete_words eggscripts stop --t
complete_words eggscripts completion ""
complete_words eggscripts start --ignore
"""


def test_tab_completion_in_a_real_bash(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    env = cli_env(tmp_path)
    env["PATH"] = f"{Path(EGGSCRIPTS).parent}{os.pathsep}{env['PATH']}"
    script = BASH_DRIVER.format(script=COMPLETIONS / "eggscripts")
    result = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "complete -o nosort -F _eggscripts_completion eggscripts"
    assert lines[1].split() == ["start", "status", "stop"]
    assert "--title" in lines[2].split() and "--timeout" in lines[2].split()
    assert set(lines[3].split()) == {"--title", "--timeout"}
    assert lines[4].split() == ["bash", "zsh", "fish"]
    assert lines[5].split() == ["--ignore-stderr"]
