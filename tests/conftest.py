"""Every test gets its own oubliette home and a clean environment: none touches ~/.oubliette."""

from __future__ import annotations

import pytest

ENV_VARS = ("OUBLIETTE_HOME", "OUBLIETTE_RUNTIME", "OUBLIETTE_DEV", "APPLE_CONTAINER_BINARY")


@pytest.fixture(autouse=True)
def oubliette_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OUBLIETTE_HOME", str(home))
    return home
