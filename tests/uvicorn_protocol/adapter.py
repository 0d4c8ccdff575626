"""Our protocol class as uvicorn's tests expect to find it: `HttpToolsProtocol`, the
per-worker subclass `runtime.worker.http_protocol.protocol_class` makes, with the default
limits of `eggscripts start` (uvicorn's tests tell its implementations apart by class name,
and ours is an httptools one)."""

from __future__ import annotations

from runtime.process.cluster_options import ClusterOptions
from runtime.worker.http_protocol import protocol_class

VENDORED_FROM = "0.55.0"  # the uvicorn sdist test_http.py and response.py come from

HttpToolsProtocol = protocol_class(ClusterOptions(base_dir="/", title="uvicorn-tests"))
HttpToolsProtocol.__name__ = HttpToolsProtocol.__qualname__ = "HttpToolsProtocol"
