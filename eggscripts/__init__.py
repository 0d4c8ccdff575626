"""eggscripts: the command line that starts and stops egg-style Python clusters.

The CLI parses options and launches `python -m runtime.start_cluster`; of the runtime it
imports only the contract package (`runtime/contract/`, standard library only), never
the runtime or app code, so a broken app can never break `eggscripts stop`.
"""

from runtime.contract import __version__

__all__ = ["__version__"]
