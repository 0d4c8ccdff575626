"""Regenerate the checked-in man pages (man/), completion scripts (completions/) and the
option tables of docs/CLI.md.

All are derived from the click command tree, so run this after changing a command or an
option; tests/unit/eggscripts/test_man_pages.py and
tests/process/eggscripts/test_completion.py fail while any is stale.

    .venv/bin/python scripts/gen_docs.py
"""

from __future__ import annotations

from pathlib import Path

from eggscripts.__main__ import cli
from eggscripts.cmd import completion
from eggscripts.docgen import manpage, markdown_ref

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    root = cli()
    prog = root.name or "eggscripts"
    (ROOT / "man").mkdir(exist_ok=True)
    for name, text in manpage.render_all(root).items():
        (ROOT / "man" / name).write_text(text)
        print(f"man/{name}")
    (ROOT / "completions").mkdir(exist_ok=True)
    for shell in completion.SHELLS:
        name = completion.FILE_NAMES[shell].format(prog=prog)
        (ROOT / "completions" / name).write_text(completion.script(root, prog, shell))
        print(f"completions/{name}")
    doc = ROOT / "docs" / "CLI.md"
    doc.write_text(markdown_ref.fill(doc.read_text(), root))
    print("docs/CLI.md")


if __name__ == "__main__":
    main()
