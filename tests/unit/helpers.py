"""Shared pieces for unit tests: recorded engine output and config writers."""

from __future__ import annotations

import json
from pathlib import Path

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> str:
    """A file recorded from a real engine (docker/) or from Apple's reference (apple/)."""
    return (RECORDED / name).read_text()


def write_config(home: Path, data: dict | str) -> Path:
    path = home / "config" / "oubliette.jsonc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def assert_clean_error(result, exit_code: int, *fragments: str) -> None:
    """One `Error:` line (plus an optional hint), the exit code, and no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def create(run, *args: str) -> str:
    """`project create ARGS...` through the CLI; the new project's id."""
    result = run("project", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def started(run, *args: str) -> str:
    """A project created and its container started; its id."""
    project_id = create(run, *args)
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    return project_id
