"""Re-export of `runtime/contract/framing.py` for modules not yet importing the contract.

Remove once nothing imports it.
"""

from runtime.contract.framing import (
    ENV_IPC_FD,
    HEADER,
    MAX_FRAME,
    FrameDecoder,
    ProtocolError,
    encode,
    write_frame_blocking,
)

__all__ = [
    "ENV_IPC_FD", "HEADER", "MAX_FRAME", "FrameDecoder", "ProtocolError", "encode",
    "write_frame_blocking",
]  # fmt: skip
