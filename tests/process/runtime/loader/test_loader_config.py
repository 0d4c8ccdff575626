"""Env resolution, config layering/merging, provenance, run/*.json dumps, config errors: the
cases with real processes (the others are in
tests/unit/runtime/loader/test_loader_config.py)."""

from __future__ import annotations

from tests.fixtures.apptree import FULL


def test_import_runtime_is_lazy():
    """The master imports `runtime.*`; it must not pay for the loader or the HTTP layer."""
    import subprocess
    import sys

    code = (
        "import sys, runtime\n"
        "assert not [m for m in sys.modules if m.startswith(('runtime.', 'yaml', 'uvicorn'))]\n"
        "from runtime import Agent, Application, Context, Controller, Service\n"
        "assert Controller.__module__ == 'runtime.app.base_classes'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(FULL.parents[3]))
