"""The listing cache (store/shown.py): names without reading every metadata file, and never
a name the files no longer say."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from oubliette.store.projects import ProjectStore
from oubliette.store.shown import CACHE, Shown, shown


@pytest.fixture
def store(tmp_path):
    return ProjectStore(tmp_path / "home")


def cache_of(store: ProjectStore) -> dict:
    return json.loads(Path(store.root, CACHE).read_text())


def no_reads(monkeypatch, store: ProjectStore) -> None:
    def refuse(project_id):
        raise AssertionError(f"read the metadata of {project_id}")

    monkeypatch.setattr(store, "by_id", refuse)


def test_a_second_listing_reads_no_metadata_file(store, monkeypatch):
    web = store.create("web", "dev", ports=("8080:80",))
    api = store.create("api", "base", env={"A": "1"})
    assert shown(str(store.root), [web.id, api.id], store.by_id) == {web.id: Shown("web", "dev", False, True),
                                              api.id: Shown("api", "base", True, False)}
    assert stat.S_IMODE(Path(store.root, CACHE).stat().st_mode) == 0o600
    no_reads(monkeypatch, store)
    assert shown(str(store.root), [api.id, web.id, web.id], store.by_id) == {web.id: Shown("web", "dev", False, True),
                                                      api.id: Shown("api", "base", True, False)}


def test_a_rename_or_a_hand_edit_is_shown_at_once(store):
    web = store.create("web", "dev")
    shown(str(store.root), [web.id], store.by_id)
    store.update(web, name="website")  # oubliette's own write: a new file (a new inode)
    assert shown(str(store.root), [web.id], store.by_id)[web.id].name == "website"
    metadata = Path(store.project_dir(web.id), "metadata.json")
    inode = metadata.stat().st_ino
    with open(metadata, "r+") as handle:  # an editor writing in place: same inode
        text = handle.read().replace('"website"', '"web site 2"')
        handle.seek(0)
        handle.write(text)
    assert metadata.stat().st_ino == inode
    assert shown(str(store.root), [web.id], store.by_id)[web.id].name == "web site 2"


def test_gone_damaged_and_foreign_ids_are_none_and_gone_ones_leave_the_cache(store):
    web, old, bad = store.create("web", "dev"), store.create("old", "dev"), store.create("bad", "dev")
    shown(str(store.root), [web.id, old.id], store.by_id)
    store.delete(old.id)
    Path(store.project_dir(bad.id), "metadata.json").write_text("{not json")
    found = shown(str(store.root), [web.id, old.id, bad.id, "../../etc", "proj_000000000000", ""], store.by_id)
    assert found == {web.id: Shown("web", "dev", False, False), old.id: None, bad.id: None,
                     "../../etc": None, "proj_000000000000": None, "": None}
    assert set(cache_of(store)["projects"]) == {web.id}
    written = Path(store.root, CACHE).stat().st_ino
    assert shown(str(store.root), [web.id, bad.id], store.by_id)[bad.id] is None
    assert Path(store.root, CACHE).stat().st_ino == written  # a damaged project alone rewrites nothing


@pytest.mark.parametrize("text", [
    "garbage", "[]", '{"version": 2, "projects": {}}', '{"version": 1, "projects": []}', "[" * 100000,
])
def test_a_damaged_cache_counts_as_empty_and_is_rewritten(store, text):
    web = store.create("web", "dev")
    Path(store.root, CACHE).write_text(text)
    assert shown(str(store.root), [web.id], store.by_id) == {web.id: Shown("web", "dev", False, False)}
    assert web.id in cache_of(store)["projects"]


def test_an_entry_is_used_only_when_it_matches_the_file_and_could_be_a_project(store):
    """A forged or stale entry (wrong identity, a name with a terminal escape, wrong kinds)
    sends the listing to the file."""
    web = store.create("web", "dev")
    shown(str(store.root), [web.id], store.by_id)
    key = cache_of(store)["projects"][web.id][:3]
    for entry in ([key[0] + 1, *key[1:], "evil", "dev", False, False], [*key, "\x1b]0;evil\x07", "dev", False, False],
                  [*key, "evil", 3, False, False], [*key, "evil", "dev", 0, False], [*key, "evil"], "evil"):
        Path(store.root, CACHE).write_text(json.dumps({"version": 1, "projects": {web.id: entry}}))
        assert shown(str(store.root), [web.id], store.by_id)[web.id] == Shown("web", "dev", False, False), entry


def test_a_cache_that_is_a_link_or_cannot_be_written_is_left_alone(store, tmp_path, monkeypatch):
    import errno

    import oubliette.store.shown as shown_module

    web = store.create("web", "dev")
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    os.symlink(outside, Path(store.root, CACHE))
    assert shown(str(store.root), [web.id], store.by_id) == {web.id: Shown("web", "dev", False, False)}
    assert outside.read_text() == "keep"  # never written through the link
    Path(store.root, CACHE).unlink()

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shown_module, "write_atomic", full_disk)
    assert shown(str(store.root), [web.id], store.by_id) == {web.id: Shown("web", "dev", False, False)}
    assert not Path(store.root, CACHE).exists()
