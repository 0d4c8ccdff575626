"""Setting the process title; its format is the contract's (`runtime/contract/titles.py`)."""

from __future__ import annotations


def set_title(text: str) -> None:
    """Set the process title; setproctitle is imported here so only callers pay for it."""
    import setproctitle

    setproctitle.setproctitle(text)
