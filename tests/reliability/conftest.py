"""The reliability suite (issue 9): faults an operator meets, each case asserting figures.

Every test here is marked `reliability`. The fast cases run with the rest of `make test`;
cases also marked `long` (bounded loopback load for tens of seconds) run only under
`make reliability`, which sets `EGGSCRIPTS_RELIABILITY_LONG=1`.
"""

from __future__ import annotations

import os

import pytest

LONG_ENV = "EGGSCRIPTS_RELIABILITY_LONG"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    skip_long = pytest.mark.skip(reason=f"long variant: run `make reliability` ({LONG_ENV}=1)")
    for item in items:
        if not str(item.fspath).startswith(here):
            continue
        item.add_marker(pytest.mark.reliability)
        if "long" in item.keywords and not os.environ.get(LONG_ENV):
            item.add_marker(skip_long)
