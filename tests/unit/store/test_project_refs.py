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


def test_a_listing_reads_a_project_by_its_exact_id_and_nothing_else(tmp_path):
    """A container's label is untrusted: only an exact project id reaches a path."""
    from oubliette.store.projects import ProjectStore

    store = ProjectStore(tmp_path / "home")
    project = store.create("web", "dev")
    assert store.by_id(project.id) == project
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "metadata.json").write_text('{"id": "x"}')
    for label in ("web", project.id[:8], "../../outside", f"{project.id}/..", "proj_000000000000", ""):
        assert store.by_id(label) is None, label
