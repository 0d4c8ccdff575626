"""The contract between the `eggscripts` command line and the cluster runtime.

Everything both sides must agree on is written once, here: the framing and the message
types of every channel (`framing`, `messages`, `readychannel`, `control`), where a
cluster's control socket and title lock live (`paths`, `locks`), the process titles
(`titles`), the exit statuses (`exitcodes`), the worker-count bound (`capacity`), the
start options with their types, defaults and bounds (`start_options`) and the version.

Standard library only, and nothing else of `runtime`: the CLI imports this package and
no other part of the runtime, so a broken app or a heavy dependency can never break
`eggscripts stop` (tests/unit/test_layout.py asserts both). docs/INTERNALS.md describes it.
"""

__version__ = "0.1.0"
