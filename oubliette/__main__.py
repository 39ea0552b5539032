"""The `oubliette` command (`python -m oubliette` too).

The cyclic garbage collector is off for a command's life, switched off before click and
the core are imported: their objects would otherwise set off a dozen collections that
free nothing (~3 ms of each `container list`, measured). Reference counting still frees
everything but cycles, and a command ends within seconds; the one long-lived command,
`oubliette mcp`, switches it back on (cli/mcp.py). For the same reason a command ends
without the interpreter's teardown when nothing is left for it to do (cli/main.py, `leave`).
"""

import gc

gc.disable()

from oubliette.cli.main import main  # noqa: E402  (after gc.disable, on purpose)

if __name__ == "__main__":
    main()
