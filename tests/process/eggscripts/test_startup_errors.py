"""Every bad app input fails a real start the same way (issue 4): exit 1, one
line on stderr naming the file or plugin at fault, and no process left running.

The loader tests check the messages in detail; these check that each one travels from a
worker or the agent through the master to the user, and that the start cleans up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clusters import Cluster
from tests.fixtures.apptree import write_tree
from tests.helpers import cluster_processes

MW_OK = (
    "def middleware(options, app):\n    async def m(ctx, next):\n        await next()\n"
    "    return m\n"
)
PLUGIN = 'plugin = {"a": {"path": "plugins/a"}, "b": {"path": "plugins/b"}}'

BAD_APPS = {
    "missing plugin dependency": (
        {"config/plugin.py": 'plugin = {"a": {"path": "plugins/a"}}',
         "plugins/a/plugin.yaml": "dependencies: [zzz]"},
        ["plugin 'a' depends on 'zzz'"],
    ),
    "plugin cycle": (
        {"config/plugin.py": PLUGIN, "plugins/a/plugin.yaml": "dependencies: [b]",
         "plugins/b/plugin.yaml": "dependencies: [a]"},
        ["cycle: a -> b -> a"],
    ),
    "unknown middleware": (
        {"config/config.default.py": "config = {'middleware': ['ghost']}"},
        ["middleware 'ghost'", "config.default.py"],
    ),
    "match and ignore": (
        {"config/config.default.py":
            "config = {'middleware': ['m'], 'm': {'match': '/a', 'ignore': '/b'}}",
         "app/middleware/m.py": MW_OK},
        ["config.default.py", "both `match` and `ignore`"],
    ),
    "config syntax error": (
        {"config/config.default.py": "config = {\n    'a': 1,,\n}\n"},
        ["config/config.default.py:2", "SyntaxError"],
    ),
    "two Service classes": (
        {"app/service/a.py":
            "from runtime import Service\n\nclass A(Service):\n    pass\n\n"
            "class B(Service):\n    pass\n"},
        ["service/a.py", "2 Service subclasses"],
    ),
    "raising boot hook": (
        {"app.py": "class Boot:\n    def __init__(self, app):\n        pass\n\n"
                   "    def will_ready(self):\n        raise ValueError('no database')\n"},
        ["Boot.will_ready", "app.py", "no database"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_APPS), ids=list(BAD_APPS))
def test_bad_app_fails_the_start_with_one_line(
    case: str, tmp_path: Path, title: str, port: int
) -> None:
    files, fragments = BAD_APPS[case]
    app = write_tree(tmp_path / "app", files)
    cluster = Cluster(app, title, port, workers=2).start(wait=False)
    rc, _, err = cluster.wait(timeout=20)
    assert rc == 4  # the app failed to load
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not any(cluster_processes(title).values())
