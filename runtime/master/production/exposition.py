"""`/metrics` as Prometheus text: the snapshot of `runtime/master/production/metrics.py` through
prometheus_client's own exposition code (`generate_latest` over a private registry with one
custom collector), never by hand. Its own module so that prometheus_client is imported only
by a master serving `--health-port` (the health server imports this), not by every master
and every worker forked from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import exposition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from runtime.master.production.metrics import STATES, ClusterSnapshot, Snapshot

# Our names are all classic ones, so the 0.0.4 text format every Prometheus reads.
CONTENT_TYPE = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)


class SnapshotCollector(Collector):
    """A prometheus_client collector reading one fresh snapshot per scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        labels = ["worker", "role"]
        per_worker: dict[str, Any] = {
            "requests": CounterMetricFamily(
                "eggscripts_worker_requests", "Requests served by the worker.", labels=labels
            ),
            "in_flight": GaugeMetricFamily(
                "eggscripts_worker_in_flight_requests", "Requests in progress.", labels=labels
            ),
            "rss_bytes": GaugeMetricFamily(
                "eggscripts_worker_resident_memory_bytes", "Resident memory.", labels=labels
            ),
            "heartbeat_age": GaugeMetricFamily(
                "eggscripts_worker_heartbeat_age_seconds",
                "Seconds since the master last heard from the worker.",
                labels=labels,
            ),
            "pid": GaugeMetricFamily(
                "eggscripts_worker_pid", "Process id of the worker.", labels=labels
            ),
            "saturated": GaugeMetricFamily(
                "eggscripts_worker_saturated",
                "1 when every WSGI thread of the worker is busy.",
                labels=labels,
            ),
        }
        restarts = CounterMetricFamily(
            "eggscripts_worker_restarts",
            "Times the worker was replaced, by cause.",
            labels=[*labels, "cause"],
        )
        for worker in snap.workers:
            key = [str(worker.id), worker.role]
            for field, family in per_worker.items():
                value = getattr(worker, field)
                if value is not None:
                    family.add_metric(key, float(value))
            for cause, count in sorted(worker.restarts.items()):
                restarts.add_metric([*key, cause], float(count))
        yield from per_worker.values()
        yield restarts
        yield from self.cluster_metrics(snap)

    @staticmethod
    def cluster_metrics(snap: ClusterSnapshot) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "eggscripts_cluster_reloads", "Rolling reloads done.", value=snap.reloads
        )
        yield GaugeMetricFamily(
            "eggscripts_cluster_uptime_seconds", "Seconds since the master started.", snap.uptime
        )
        yield GaugeMetricFamily(
            "eggscripts_cluster_workers", "App workers serving.", value=snap.serving
        )
        ready, _ = snap.readiness()
        yield GaugeMetricFamily("eggscripts_cluster_ready", "1 when ready.", value=int(ready))
        state = GaugeMetricFamily(
            "eggscripts_cluster_state", "Lifecycle state of the cluster.", labels=["state"]
        )
        for name in dict.fromkeys((*STATES, snap.state)):
            state.add_metric([name], float(name == snap.state))
        yield state


def render(snapshot: Snapshot) -> tuple[bytes, str]:
    """(body, content type) of /metrics, by prometheus_client's exposition code."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return exposition.generate_latest(registry), CONTENT_TYPE
