"""Starting the agent as a new interpreter (SPEC §3: `python -m runtime.agent_worker`).

The agent is spawned rather than forked so that it boots in parallel with the master's
pre-import of the HTTP stack, and so an agent restart never inherits master state.
`posix_spawn` is used instead of subprocess.Popen because only the master loop may reap
children (`waitpid(-1)`); a Popen object would race it for the exit status.
"""

from __future__ import annotations

import os
import socket
import sys

import runtime
from runtime.ipc.framing import ENV_IPC_FD
from runtime.ipc.leader_endpoint import ENV_LEADER_FD
from runtime.options import ClusterOptions

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(runtime.__file__)))


def spawn_agent(
    options: ClusterOptions, leader: socket.socket | None = None
) -> tuple[int, socket.socket]:
    """Start the agent; it inherits only its channel end and the leader endpoint socket."""
    master_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = child_end.fileno()
    os.set_inheritable(fd, True)
    env = dict(os.environ)
    env[ENV_IPC_FD] = str(fd)
    if leader is not None:
        os.set_inheritable(leader.fileno(), True)
        env[ENV_LEADER_FD] = str(leader.fileno())
    paths = [_PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    argv = [sys.executable, "-m", "runtime.agent_worker", options.to_json()]
    try:
        pid = os.posix_spawn(sys.executable, argv, env)
    finally:
        child_end.close()
        if leader is not None:
            os.set_inheritable(leader.fileno(), False)
    return pid, master_end
