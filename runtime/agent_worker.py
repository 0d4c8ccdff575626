"""`python -m runtime.agent_worker '<options JSON>'`: the agent's door.

The agent is a new interpreter, not a fork (docs/INTERNALS.md); this module only names its
entry point and hands over to `runtime.worker.agent_worker`, where the agent process lives.
"""

from __future__ import annotations

if __name__ == "__main__":
    from runtime.quick_exit import exit_process
    from runtime.worker.agent_worker import main

    exit_process(main())
