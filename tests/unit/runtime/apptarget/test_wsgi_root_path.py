"""`--root-path` for a WSGI app (issue 20, item 15): like gunicorn's SCRIPT_NAME, the proxy:
the cases with no process started (the others are in
tests/process/runtime/apptarget/test_wsgi_root_path.py)."""

from __future__ import annotations

from runtime.apptarget.wsgi import below_root


def test_below_root_takes_the_prefix_off_once_only_when_it_is_there_twice() -> None:
    scope = {"type": "http", "root_path": "/api", "path": "/api/api/x", "raw_path": b"/api/api/x"}
    assert below_root(scope)["path"] == "/api/x"
    assert below_root(scope)["raw_path"] == b"/api/x"
    for path in ("/api/x", "/api/apix", "/api"):  # the proxy stripped the prefix
        assert below_root({**scope, "path": path})["path"] == path
    assert below_root({**scope, "root_path": ""})["path"] == "/api/api/x"
