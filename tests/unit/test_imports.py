"""Start-up cost: commands import only what they use (checked with -X importtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tabulate", "mcp")


def imported_modules(*args: str, home) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "oubliette", *args],
                            capture_output=True, text=True, env={"OUBLIETTE_HOME": str(home), "PATH": ""})
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert modules, result.stderr
    return modules


@pytest.mark.parametrize("args", [("--help",), ("init", "--no-pull")])
def test_light_commands_import_no_tabulate_and_no_mcp(args, oubliette_home):
    modules = imported_modules(*args, home=oubliette_home)
    assert "click" in modules  # the parse saw real imports
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
