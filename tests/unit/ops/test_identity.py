"""The host's git identity, carried into sessions: asked once per unchanged config in a
process that runs many sessions (the MCP server)."""

from __future__ import annotations

import pytest

from oubliette.ops import identity

ANSWER = "user.name Ada Lovelace\nuser.email ada@example.com\n"


def asked(fp) -> int:
    return fp.call_count(["git", "config", "--get-regexp", r"^user\.(name|email)$"])


@pytest.fixture
def git_home(fp, tmp_path, monkeypatch):
    """A HOME whose `git config` answers ANSWER; its .gitconfig is the caller's to write."""
    monkeypatch.chdir(tmp_path)
    identity._ASKED.clear()
    fp.register(["git", "config", fp.any()], stdout=ANSWER, occurrences=10)
    return tmp_path


def test_an_unchanged_config_is_asked_once_and_a_changed_one_again(fp, git_home):
    config = git_home / ".gitconfig"
    config.write_text("[user]\n\tname = Ada Lovelace\n")
    env = {"HOME": str(git_home)}
    first = identity.git_identity(env, keep=True)()
    assert first["GIT_AUTHOR_NAME"] == "Ada Lovelace" and first["GIT_COMMITTER_EMAIL"] == "ada@example.com"
    assert identity.git_identity(env, keep=True)() == first and asked(fp) == 1
    config.write_text("[user]\n\tname = Ada King\n")  # another size: asked again
    identity.git_identity(env, keep=True)()
    assert asked(fp) == 2


def test_a_config_that_includes_others_is_asked_every_time(fp, git_home):
    (git_home / ".gitconfig").write_text("[include]\n\tpath = ~/.gitconfig.local\n")
    env = {"HOME": str(git_home)}
    identity.git_identity(env, keep=True)()
    identity.git_identity(env, keep=True)()
    assert asked(fp) == 2


def test_no_git_is_no_identity(tmp_path, monkeypatch):
    from oubliette.engines import process

    monkeypatch.chdir(tmp_path)
    identity._ASKED.clear()

    def missing(argv, **_options):
        raise process.BinaryMissing("git", argv)

    monkeypatch.setattr(process, "spawn", missing)
    assert identity.git_identity({"HOME": str(tmp_path)})() == {}


def test_a_one_session_command_asks_git_and_keeps_nothing(fp, git_home):
    (git_home / ".gitconfig").write_text("[user]\n\tname = Ada Lovelace\n")
    env = {"HOME": str(git_home)}
    identity.git_identity(env)()
    identity.git_identity(env)()
    assert asked(fp) == 2 and identity._ASKED == {}
