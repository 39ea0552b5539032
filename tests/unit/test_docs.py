"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_quick_start_is_two_commands_init_then_tests():
    install, tests = readme_commands()
    assert install.endswith("oubliette init")
    assert "'.[test]'" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def load_cli_docs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_matches_every_commands_help():
    cli_docs = load_cli_docs()
    issues = cli_docs.problems((ROOT / "docs" / "CLI.md").read_text())
    assert issues == [], "\n".join(issues) + "\nrun: python scripts/cli_docs.py --write"


def test_cli_reference_check_catches_drift():
    cli_docs = load_cli_docs()
    text = (ROOT / "docs" / "CLI.md").read_text()
    assert any("differs" in i for i in cli_docs.problems(text.replace("--no-pull", "--no-pulls", 1)))
    assert any("does not exist" in i for i in cli_docs.problems(
        text + "\n<!-- help: bogus -->\n```text\nx\n```\n<!-- /help -->\n"))
    first = text.index("<!-- help: init -->")
    assert any("missing" in i for i in cli_docs.problems(text[:first]))
