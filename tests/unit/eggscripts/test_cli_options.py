"""`start` option resolution: every default source, validation, and the JSON:
the cases with no process started (the others are in
tests/process/eggscripts/test_cli_options.py)."""

from __future__ import annotations

from eggscripts.options import registry as options


def test_registry_declares_each_name_and_flag_once() -> None:
    for specs in (options.START, options.STOP):
        names = [s.name for s in specs]
        assert len(names) == len(set(names))
        flags = [f for s in specs for f in (s.flag, *s.aliases)]
        assert len(flags) == len(set(flags))
    assert {s.key for s in options.STOP} - {"all"} <= {s.key for s in options.START}
