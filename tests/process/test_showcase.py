"""The showcase example app, served by a real cluster (master, agent, 2 app workers)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests import conftest
from tests.clusters import Cluster
from tests.helpers import SHOWCASE, free_port, request


@pytest.fixture(scope="module")
def cluster():
    title = conftest.new_title("showcase")
    conftest.SHARED_TITLES.add(title)
    with Cluster(SHOWCASE, title, free_port(), workers=2, env="prod") as running:
        yield running
    conftest.SHARED_TITLES.discard(title)


def test_hello_world(cluster):
    resp = request(cluster.port, "/")
    assert (resp.status, resp.text) == (200, "hello world")
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert "x-response-time" not in resp.headers  # the middleware matches /api only


def test_every_request_goes_through_the_metrics_middleware(cluster):
    """`GET /` is not a bare route: the app's global middleware counts it."""
    first = request(cluster.port, "/metrics").json()
    for _ in range(20):
        request(cluster.port, "/")
    counts = {}
    for _ in range(500):  # new connections spread over both workers
        data = request(cluster.port, "/metrics").json()
        counts[data["pid"]] = data["requests"]
        if len(counts) == 2:
            break
    assert sum(counts.values()) >= first["requests"] + 20 + 2


def test_pid_is_a_serving_worker(cluster):
    workers = {p.pid for p in cluster.processes()["app"]}
    assert len(workers) == 2
    pids = {int(request(cluster.port, "/pid").text) for _ in range(10)}
    assert pids <= workers


def test_slow_requests_run_concurrently(cluster):
    results: list[float] = []

    def hit() -> None:
        start = time.monotonic()
        assert request(cluster.port, "/slow?ms=400").text == "slept 400ms"
        results.append(time.monotonic() - start)

    start = time.monotonic()
    threads = [threading.Thread(target=hit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and min(results) >= 0.4
    assert time.monotonic() - start < 1.6  # not 6 x 0.4 s in a row


def test_echo_json(cluster):
    payload = {"a": [1, 2, {"b": None}], "s": "ünï"}
    resp = request(cluster.port, "/echo", method="POST", body=payload)
    assert resp.status == 200 and resp.json() == payload


def test_resources_service_and_class_controller(cluster):
    users = request(cluster.port, "/api/users")
    assert users.json()[0] == {"id": 1, "name": "alice"}
    assert users.headers["x-response-time"].endswith("ms")
    assert request(cluster.port, "/api/users/2").json() == {"id": 2, "name": "bob"}
    missing = request(cluster.port, "/api/users/99")
    assert (missing.status, missing.text) == (404, "no user 99")
    created = request(cluster.port, "/api/users", method="POST", body={"name": "carol"})
    assert created.status == 201 and created.json()["name"] == "carol"
    assert request(cluster.port, "/api/users", method="POST", body={}).status == 422


def test_plugin_extend_and_yaml_config(cluster):
    body = request(
        cluster.port, "/api/greet/bob", headers={"X-Requested-With": "XMLHttpRequest"}
    ).json()
    assert body == {
        "greeting": "hello, bob",  # helper extend from the local plugin
        "from_config": "hello from production",  # config.prod.yaml
        "ajax": True,  # context extend
        "url": "/api/greet/bob?lang=en",  # router.url with a query
    }


def test_run_config_dumped_with_token_masked(cluster):
    dumped = json.loads((SHOWCASE / "run" / "application_config.json").read_text())
    assert dumped["showcase"]["api_token"] == "******"
    assert dumped["showcase"]["booted_by"] == "app.py"  # Boot.config_did_load
    assert dumped["env"] == "prod"
    assert (SHOWCASE / "run" / "agent_config.json").is_file()
