"""The config dump's masking and the config shape bounds, as functions (the process-level
cases are in tests/process/runtime/test_private_files.py and
tests/reliability/test_config_bombs.py)."""

from __future__ import annotations

import time

import pytest
import yaml

from runtime.loader.config import mask
from runtime.loader.shape import MAX_VALUES, check_shape
from runtime.process.errors import StartupError


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:pw@db:5432/x", "postgresql://app:******@db:5432/x"),
        ("redis://:pw@cache:6379/0", "redis://:******@cache:6379/0"),
        ("amqp://u:p@ss@mq/vhost", "amqp://u:******@mq/vhost"),
        ("http://example.com:8080/a@b", "http://example.com:8080/a@b"),
        ("http://user@host/", "http://user@host/"),
        (
            "see postgresql://a:b@h and redis://:c@r",
            "see postgresql://a:******@h and redis://:******@r",
        ),
    ],
)
def test_passwords_inside_urls_are_masked_anywhere(url: str, masked: str) -> None:
    assert mask({"where": {"deep": [url]}}) == {"where": {"deep": [masked]}}


@pytest.mark.parametrize(
    "key", ["apiSecret", "db_password", "passwd_file", "token", "api_key", "cookie", "session",
            "credentials", "bearer", "private_pem", "signing"],
)  # fmt: skip
def test_secret_key_names(key: str) -> None:
    assert mask({key: {"a": 1, "b": [2, "x"]}, "name": "shop"}) == {
        key: {"a": "******", "b": ["******", "******"]},
        "name": "shop",
    }


def test_shared_structure_is_masked_once_and_stays_shared() -> None:
    bomb = yaml.safe_load(
        "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    )
    started = time.perf_counter()
    masked = mask(bomb)
    assert time.perf_counter() - started < 0.5  # 9**9 leaves if it were expanded
    assert masked["a9"][0] is masked["a9"][1]
    with pytest.raises(StartupError, match=r"config\.yaml: config too large: [\d,]+ values"):
        check_shape(bomb, "config.yaml")


def test_shape_limits() -> None:
    check_shape({"k": list(range(MAX_VALUES - 10))}, "ok.yaml")
    with pytest.raises(StartupError, match="nested deeper than 64 levels"):
        value: list = []
        for _ in range(70):
            value = [value]
        check_shape(value, "deep.yaml")
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(StartupError, match="contains itself"):
        check_shape(loop, "cycle.py")
