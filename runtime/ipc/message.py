"""Re-export of `runtime/contract/messages.py` for modules not yet importing the contract.

Remove once nothing imports it.
"""

from runtime.contract.messages import RESERVED_ACTIONS, Action, InvalidMessage, Message, Role

__all__ = ["RESERVED_ACTIONS", "Action", "InvalidMessage", "Message", "Role"]
