"""When the CLI starts the runtime early (eggscripts/launching/early_start.py), and what
it guesses the launch will be; the launches themselves are in
tests/process/eggscripts/test_early_start.py."""

from __future__ import annotations

import pytest

from eggscripts.launching import early_start


@pytest.mark.parametrize(
    ("argv", "env", "wanted"),
    [
        (["start", "--port=7001", "/srv/shop"], {}, True),
        (["start"], {}, True),
        (["stop", "--title=shop"], {}, False),
        (["dev"], {}, False),
        (["restart", "--title=shop"], {}, False),
        ([], {}, False),
        (["start", "--help"], {}, False),
        (["start", "-h"], {}, False),
        (["start", "--version"], {}, False),
        (["start"], {"EGGSCRIPTS_NO_EARLY_START": "1"}, False),
        (["start"], {"_EGGSCRIPTS_COMPLETE": "bash_complete"}, False),
    ],
)
def test_only_a_start_that_will_launch_starts_early(
    argv: list[str], env: dict[str, str], wanted: bool
) -> None:
    assert early_start.wanted(argv, env) is wanted


@pytest.mark.parametrize(
    ("argv", "daemon"),
    [
        (["start"], False),
        (["start", "--daemon"], True),
        (["start", "--daemon", "--no-daemon"], False),
        (["start", "--no-daemon", "--daemon"], True),
        (["start", "--daemonize"], False),
    ],
)
def test_the_guess_is_the_last_daemon_flag(argv: list[str], daemon: bool) -> None:
    assert early_start._guess_daemon(argv) is daemon


def test_without_an_early_start_every_hand_over_is_declined() -> None:
    assert early_start._early is None
    early_start.expect(True)
    early_start.hand_foreground(["python"], {}, None)  # returns: exec it plainly
    assert early_start.hand_daemon(lambda fd: ["python"], {}, (None, None), None) is None  # type: ignore[arg-type]
