"""eggscripts: the command line that starts and stops egg-style Python clusters.

The CLI only parses options and launches `python -m runtime.start_cluster`; it never imports
the runtime or app code, so a broken app can never break `eggscripts stop`.
"""

__version__ = "0.1.0"
