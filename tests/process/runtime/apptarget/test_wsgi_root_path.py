"""`--root-path` for a WSGI app (issue 20, item 15): like gunicorn's SCRIPT_NAME, the proxy
may keep the prefix (`/api/hello`) or strip it (`/hello`); the app gets SCRIPT_NAME=/api
and PATH_INFO=/hello either way, so a Flask or Django app moved from gunicorn works behind
the same proxy configuration."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clusters import Cluster
from tests.helpers import request

ECHO = """
import json


def app(environ, start_response):
    body = json.dumps({"script": environ["SCRIPT_NAME"], "path": environ["PATH_INFO"]})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
"""


def test_prefix_kept_or_stripped_by_the_proxy_reaches_the_same_route(
    tmp_path: Path, title: str, port: int
) -> None:
    (tmp_path / "echo.py").write_text(ECHO)
    with Cluster(tmp_path, title, port, workers=1, app="echo:app", root_path="/api"):
        kept = json.loads(request(port, "/api/hello?x=1").text)  # gunicorn's convention
        stripped = json.loads(request(port, "/hello").text)  # uvicorn's convention
        root = json.loads(request(port, "/api").text)
    assert kept == stripped == {"script": "/api", "path": "/hello"}
    assert root == {"script": "/api", "path": ""}
