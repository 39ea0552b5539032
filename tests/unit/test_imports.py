"""Start-up cost: commands import only what they use (checked with -X importtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tabulate", "mcp")  # tabulate: no longer a dependency, and never to come back through one


def imported_modules(*args: str, home, path: str = "") -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "oubliette", *args],
                            capture_output=True, text=True, env={"OUBLIETTE_HOME": str(home), "PATH": path})
    assert result.returncode == 0, result.stderr[-2000:]
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert "click" in modules  # the parse saw real imports
    return modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.fixture
def stub_docker(tmp_path, oubliette_home):
    """A `docker` that lists nothing, and a home with init's commented config."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "docker").chmod(0o755)
    imported_modules("init", "--no-pull", home=oubliette_home)
    return str(bin_dir)


@pytest.mark.parametrize("args", [("--help",), ("init", "--no-pull")])
def test_light_commands_import_no_tabulate_and_no_mcp(args, oubliette_home):
    assert heavy(imported_modules(*args, home=oubliette_home)) == []


def test_container_list_json_imports_neither_tabulate_mcp_nor_json5(stub_docker, oubliette_home):
    modules = imported_modules("container", "list", "--json", home=oubliette_home, path=stub_docker)
    assert heavy(modules) == []
    assert "json5" not in modules  # init's JSONC takes the stdlib path
    assert "oubliette.ops.containers" not in modules and "oubliette.store.projects" not in modules


def test_the_table_form_imports_no_table_library(stub_docker, oubliette_home):
    modules = imported_modules("container", "list", home=oubliette_home, path=stub_docker)
    assert heavy(modules) == []


def test_tables_keep_tabulates_plain_layout(capsys):
    from oubliette.cli.output import print_table

    print_table(["PROJECT ID", "NAME", "N"], [["proj_aa1fe5888520", "web", 1], ["proj_b", None, 100],
                                              ["proj_c", "名前", True]])
    assert capsys.readouterr().out == ("PROJECT ID         NAME    N\n"
                                       "proj_aa1fe5888520  web     1\n"
                                       "proj_b                     100\n"
                                       "proj_c             名前    True\n")  # aligned on screen: 名前 is 4 wide
    print_table(["A", "BB"], [])
    assert capsys.readouterr().out == "A    BB\n"
