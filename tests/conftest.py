"""Every test gets its own oubliette home and a clean environment: none touches ~/.oubliette."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REQUIRE = os.environ.get("OUBLIETTE_E2E") == "require"


def pytest_configure(config):
    """A suite started in the background by a non-interactive shell (`bash .ci/run &`)
    inherits SIGINT ignored, and so would every oubliette it starts: the Ctrl-C tests
    could not deliver theirs. Python's own handler here means a default SIGINT in the
    children (an ignored signal stays ignored across exec; a handled one does not)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
ENV_VARS = ("OUBLIETTE_HOME", "OUBLIETTE_RUNTIME", "OUBLIETTE_DEV", "APPLE_CONTAINER_BINARY")


@pytest.fixture(autouse=True)
def oubliette_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OUBLIETTE_HOME", str(home))
    return home


def unavailable(reason: str) -> None:
    """Skip, or fail when CI requires everything to run (OUBLIETTE_E2E=require)."""
    if REQUIRE:
        pytest.fail(f"OUBLIETTE_E2E=require but {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    """The path of a tool the checks need (the venv's bin first), or skip/fail."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed ({package})")
    return found


def _e2e_counts(terminalreporter) -> dict[str, int]:
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        reports = terminalreporter.stats.get(outcome, [])
        counts[outcome] = sum(1 for r in reports if "/e2e/" in str(getattr(r, "fspath", r.nodeid)).replace("\\", "/")
                              or r.nodeid.startswith("tests/e2e/"))
    return counts


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say how many end-to-end tests ran, so a CI log shows the real engine was used."""
    counts = _e2e_counts(terminalreporter)
    terminalreporter.write_line(
        "e2e (real engine): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n or k == "passed"))


def pytest_sessionfinish(session, exitstatus):
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("OUBLIETTE_E2E") == "require" and reporter is not None and exitstatus == 0:
        if _e2e_counts(reporter)["passed"] == 0:
            reporter.ensure_newline()
            reporter.write_line("OUBLIETTE_E2E=require but no end-to-end test passed", red=True)
            session.exitstatus = 1
