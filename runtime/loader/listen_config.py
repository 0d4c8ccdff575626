"""`cluster.listen` and `cluster.https` of the app config: checked at load, read by the
process runtime.

egg lets the app config choose how the cluster listens: `cluster.listen.port` /
`hostname`, `cluster.listen.path` (a Unix socket instead of TCP) and `cluster.https`
(`key`, `cert`, like `--https-key/--https-cert`). They are checked when the config is
loaded, so a typo fails the start naming the file that set it, in the agent before any
worker forks; relative paths are made absolute against BASE_DIR. The agent then reports
them in `agent-start` (the master binds after it), and app workers read `cluster.https`
when the command line gave none.
"""

from __future__ import annotations

import os
from typing import Any

from runtime.contract.payloads import Listen
from runtime.process.cluster_options import HttpsOptions
from runtime.process.errors import StartupError


def check(config: dict[str, Any], base_dir: str, meta: dict[str, str]) -> None:
    """Validate and normalize `cluster.listen.path/mode` and `cluster.https` in place."""
    cluster = config.get("cluster")
    if not isinstance(cluster, dict):
        return
    listen = cluster.get("listen")
    if isinstance(listen, dict):
        path = listen.get("path")
        if path is not None:
            if not isinstance(path, str) or not path:
                raise StartupError(f"{_origin(meta, 'cluster.listen.path')}: must be a path")
            listen["path"] = os.path.join(base_dir, os.path.expanduser(path))
        mode = listen.get("mode")
        if mode is not None and not (isinstance(mode, int) and 0 <= mode <= 0o7777):
            raise StartupError(
                f"{_origin(meta, 'cluster.listen.mode')}: must be a file mode such as 0o660"
            )
    https = cluster.get("https")
    if not https:
        return
    if not isinstance(https, dict) or not https.get("key") or not https.get("cert"):
        raise StartupError(
            f"{_origin(meta, 'cluster.https')}: cluster.https needs both `key` and `cert`"
        )
    for field in ("key", "cert"):
        value = os.path.join(base_dir, os.path.expanduser(str(https[field])))
        if not os.path.isfile(value):
            where = _origin(meta, f"cluster.https.{field}")
            raise StartupError(f"{where}: cluster.https.{field} file not found: {value}")
        https[field] = value


def _origin(meta: dict[str, str], key: str) -> str:
    return meta.get(key) or next(
        (meta[k] for k in meta if k.startswith(key + ".")), "the app config"
    )


def agent_start_listen(config: dict[str, Any]) -> Listen:
    """The `listen` data of `agent-start`: what the master needs before it binds."""
    cluster = config.get("cluster") or {}
    listen = cluster.get("listen") or {}
    data = Listen()
    if listen.get("port") is not None:
        data["port"] = listen["port"]
    if listen.get("hostname") is not None:
        data["hostname"] = listen["hostname"]
    if listen.get("path") is not None:
        data["path"] = listen["path"]
    if listen.get("mode") is not None:
        data["mode"] = listen["mode"]
    if cluster.get("https"):
        data["https"] = True
    return data


def cluster_https(config: dict[str, Any]) -> HttpsOptions | None:
    """`cluster.https` as the worker's TLS files (already checked by `check`)."""
    https = (config.get("cluster") or {}).get("https")
    if not https:
        return None
    return HttpsOptions(key=str(https["key"]), cert=str(https["cert"]))
