"""The process model (docs/INTERNALS.md) with real processes, sockets and signals: the cases with no
process started (the others are in tests/process/runtime/test_runtime_cluster.py)."""

from __future__ import annotations


def test_every_handled_signal_has_a_handler(tmp_path) -> None:
    from runtime.master.loop import Master
    from runtime.process.cluster_options import ClusterOptions

    master = Master(ClusterOptions(base_dir=str(tmp_path), title="t"))
    assert set(master.SIGNALS) == set(master.handlers)
    for sig, handler in master.handlers.items():
        assert handler.__name__.startswith("handle_"), sig
