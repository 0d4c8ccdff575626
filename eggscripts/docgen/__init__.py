"""Generating the reference documentation (man pages, the markdown option tables) from the
commands themselves."""
