"""`python -m runtime.agent_worker '<options JSON>'`: the agent's door.

The agent is a new interpreter, not a fork (docs/INTERNALS.md); this module only names its
entry point and hands over to `runtime.worker.agent_process`, where the agent process lives.
"""

from __future__ import annotations

if __name__ == "__main__":
    from runtime.process.quick_exit import exit_process
    from runtime.worker.agent_process import main

    exit_process(main())
