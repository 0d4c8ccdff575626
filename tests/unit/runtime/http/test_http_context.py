"""Context, body rendering, errors and body parsing over real HTTP (uvicorn in a thread)."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.fixtures.serve_thread import ThreadServer
from tests.helpers import FIXTURES, free_port, request

APP = str(FIXTURES / "http_app")


@pytest.fixture(scope="module")
def local():
    server = ThreadServer(APP, free_port(), env="local").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prod():
    server = ThreadServer(APP, free_port(), env="prod").start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("path", "status", "ctype", "body"),
    [
        ("/koa/text", 200, "text/plain; charset=utf-8", b"plain text"),
        ("/koa/data", 200, "application/octet-stream", b"\x00\x01binary"),
        ("/koa/json_list", 200, "application/json; charset=utf-8", b'[1,"two",null]'),
        ("/koa/explicit_status", 201, "text/plain; charset=utf-8", b"created"),
        ("/koa/status_no_body", 202, "text/plain; charset=utf-8", b"Accepted"),
        ("/koa/nothing", 404, "text/plain; charset=utf-8", b"Not Found"),
        ("/no/such/route", 404, "text/plain; charset=utf-8", b"Not Found"),
        ("/koa/typed", 200, "text/html; charset=utf-8", b"<p>hi</p>"),
        ("/sync", 200, "text/plain; charset=utf-8", b"sync ok"),
    ],
)
def test_body_types_and_koa_status(local, path, status, ctype, body):
    resp = request(local.port, path)
    assert (resp.status, resp.headers.get("content-type"), resp.body) == (status, ctype, body)
    assert resp.headers["content-length"] == str(len(body))


def test_dict_body_is_json(local):
    resp = request(local.port, "/koa/json_dict")
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert resp.json() == {"a": 1, "nested": {"ok": True}, "u": "é"}


@pytest.mark.parametrize("path", ["/koa/null_body", "/koa/explicit_then_null"])
def test_none_body_is_204_without_content(local, path):
    resp = request(local.port, path)
    assert resp.status == 204
    assert resp.body == b""
    assert "content-type" not in resp.headers


def test_empty_status_drops_body_and_explicit_null_stays_empty(local):
    resp = request(local.port, "/koa/empty_status_with_body")
    assert (resp.status, resp.body) == (204, b"")
    resp = request(local.port, "/koa/null_then_status")
    assert (resp.status, resp.body, resp.headers["content-length"]) == (200, b"", "0")


def test_response_headers(local):
    resp = request(local.port, "/koa/headers")
    assert resp.headers["x-one"] == "1"
    assert resp.headers["x-two"] == "2"
    assert resp.headers["x-three"] == "3"
    conn = http.client.HTTPConnection("127.0.0.1", local.port, timeout=5)
    conn.request("GET", "/koa/headers")
    raw = conn.getresponse()
    assert raw.msg.get_all("x-many") == ["a", "b"]
    conn.close()


def test_request_fields(local):
    resp = request(
        local.port,
        "/info?a=1&a=2&b=&c=x%20y",
        headers={"User-Agent": "tester/1", "X-Custom": "v"},
    )
    info = resp.json()
    assert info["method"] == "GET" and info["req_method"] == "GET"
    assert info["path"] == "/info"
    assert info["url"] == "/info?a=1&a=2&b=&c=x%20y"
    assert info["query"] == {"a": "1", "b": "", "c": "x y"}
    assert info["queries"]["a"] == ["1", "2"]
    assert info["ua"] == "tester/1" and info["missing"] == "" and info["header"] == "v"
    assert info["ip"] == "127.0.0.1"
    assert info["host"] == f"127.0.0.1:{local.port}"
    assert info["params"] == {} and info["state"] == {}
    assert info["app_name"] == "http-app"
    assert info["logger"] == "eggscripts.app"
    assert info["escaped"] == "&lt;b&gt;"
    assert info["href_home"] == "/items/3?q=x+y"


def test_path_params(local):
    assert request(local.port, "/items/42").json() == {"params": {"id": "42"}}
    assert request(local.port, "/items/42/").json() == {"params": {"id": "42"}}
    assert request(local.port, "/a/1/b/two").json() == {"x": "1", "y": "two"}
    assert request(local.port, "/items/").status == 404


def test_head_and_all_and_trailing_slash(local):
    head = request(local.port, "/koa/text", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == "10"
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert request(local.port, "/any", method=method).text == method
    assert request(local.port, "/koa/text/").text == "plain text"
    assert request(local.port, "/koa/text", method="POST").status == 404


def test_redirects(local):
    resp = request(local.port, "/koa/redirect")
    assert resp.status == 302
    assert resp.headers["location"] == "/koa/text"
    back = request(local.port, "/koa/redirect_back", headers={"Referer": "/from"})
    assert back.headers["location"] == "/from"
    assert request(local.port, "/koa/redirect_back").headers["location"] == "/fallback"


def test_throw_exposes_4xx_hides_5xx(local):
    resp = request(local.port, "/koa/throw")
    assert (resp.status, resp.text) == (403, "no entry")
    resp = request(local.port, "/koa/throw_500")
    assert (resp.status, resp.text) == (503, "Service Unavailable")


def test_500_shows_traceback_only_in_local(local, prod):
    resp = request(local.port, "/koa/crash")
    assert resp.status == 500
    assert "Traceback" in resp.text and "ValueError: kaboom" in resp.text
    resp = request(prod.port, "/koa/crash")
    assert (resp.status, resp.text) == (500, "Internal Server Error")
    resp = request(prod.port, "/koa/unserializable")
    assert (resp.status, resp.text) == (500, "Internal Server Error")


def test_500_is_logged_with_traceback(prod, caplog):
    with caplog.at_level("ERROR", logger="eggscripts.app"):
        request(prod.port, "/koa/crash")
    record = next(r for r in caplog.records if "kaboom" in r.getMessage())
    assert record.exc_info is not None and "/koa/crash" in record.getMessage()


def test_json_and_form_bodies(local):
    resp = request(local.port, "/echo", method="POST", body={"x": [1, 2]})
    assert resp.json() == {"body": {"x": [1, 2]}, "raw": len(json.dumps({"x": [1, 2]}))}
    resp = request(
        local.port,
        "/echo",
        method="PUT",
        body="a=1&b=2&b=3",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.json()["body"] == {"a": "1", "b": ["2", "3"]}
    resp = request(
        local.port, "/echo", method="POST", body="hi", headers={"Content-Type": "text/plain"}
    )
    assert resp.json()["body"] == "hi"
    resp = request(
        local.port, "/echo", method="POST", body=b"\x01", headers={"Content-Type": "x/y"}
    )
    assert resp.json() == {"body": {}, "raw": 1}


def test_invalid_json_is_400(local):
    resp = request(
        local.port,
        "/echo",
        method="POST",
        body="{nope",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400


def test_body_over_limit_is_413(local):
    big = json.dumps({"x": "y" * 2000})
    resp = request(
        local.port, "/echo", method="POST", body=big, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    # chunked (no Content-Length): the limit is enforced while reading
    conn = http.client.HTTPConnection("127.0.0.1", local.port, timeout=5)
    conn.request(
        "POST",
        "/echo",
        body=iter([b"a" * 700, b"b" * 700]),
        headers={"Content-Type": "text/plain"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 413
    conn.close()


def test_get_body_is_read_only_on_demand(local):
    conn = http.client.HTTPConnection("127.0.0.1", local.port, timeout=5)
    conn.request("GET", "/read", body=b"payload")
    assert conn.getresponse().read() == b"payload"
    conn.close()


def test_middleware_match_and_route_middleware(local):
    resp = request(local.port, "/tagged/deeper")
    assert resp.headers["x-tagged"] == "before" and resp.headers["x-after"] == "200"
    assert "x-tagged" not in request(local.port, "/koa/text").headers
    assert "x-tagged" not in request(local.port, "/taggedx").headers
    assert request(local.port, "/with-mw").headers["x-route-mw"] == "yes"


def test_keep_alive_connection_serves_many(local):
    conn = http.client.HTTPConnection("127.0.0.1", local.port, timeout=5)
    for _ in range(20):
        conn.request("GET", "/koa/text")
        assert conn.getresponse().read() == b"plain text"
    conn.close()
