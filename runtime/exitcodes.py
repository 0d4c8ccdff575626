"""Re-export of `runtime/contract/exitcodes.py` for modules not yet importing the contract.

Remove once nothing imports it.
"""

from runtime.contract.exitcodes import ExitCode, describe_status

__all__ = ["ExitCode", "describe_status"]
