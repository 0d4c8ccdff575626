"""examples/deploy/ stays consistent with the CLI (issue 13): the container runs the: the
cases with real processes (the others are in
tests/unit/eggscripts/test_deploy_examples.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.process.eggscripts.test_systemd_units import verify
from tests.unit.eggscripts.test_deploy_examples import DEPLOY


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_accepts_the_example_units(tmp_path: Path) -> None:
    for name in ("showcase.service", "showcase.socket"):
        text = (DEPLOY / "systemd" / name).read_text()
        # verify needs the paths to exist: point them at this machine's
        text = text.replace("/opt/showcase/venv/bin/python", shutil.which("python3") or "/bin/true")
        text = text.replace("/srv/showcase", str(tmp_path)).replace("www-data", "root")
        (tmp_path / name).write_text(text)
    verify(tmp_path, "showcase.service", "showcase.socket")
