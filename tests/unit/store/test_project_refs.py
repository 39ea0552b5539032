"""How a project is named: an id, a name, a prefix, or `.` for the current directory's."""

from __future__ import annotations

import pytest


def test_only_a_dot_names_the_current_directorys_project(tmp_path, monkeypatch):
    """A left-out ID is `.`; an empty or missing project id (an unlabelled container) never is."""
    from oubliette.errors import NotFoundError
    from oubliette.store.projects import ProjectStore

    store = ProjectStore(tmp_path / "home")
    mine = tmp_path / "mine"
    mine.mkdir()
    project = store.create("here", "dev", mine)
    monkeypatch.chdir(mine)
    assert store.resolve(".") == project.id
    with pytest.raises(NotFoundError):
        store.resolve("")
