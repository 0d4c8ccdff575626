"""Setting the process title (the format is in `runtime/contract/titles.py`).

The names below other than `set_title` are re-exported for modules not yet importing
the contract directly; remove them once none does.
"""

from __future__ import annotations

from runtime.contract.titles import TITLE_RE, agent_title, app_title, master_title

__all__ = ["TITLE_RE", "agent_title", "app_title", "master_title", "set_title"]


def set_title(text: str) -> None:
    """Set the process title; setproctitle is imported here so only callers pay for it."""
    import setproctitle

    setproctitle.setproctitle(text)
