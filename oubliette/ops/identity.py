"""Who the person is, carried into their sessions: the host's git name and email (so a
`git commit` in the container is theirs), unless the config's `"identity": {"git": false}`."""

from __future__ import annotations

from collections.abc import Mapping

GIT_SECONDS = 5


def git_identity(env: Mapping[str, str]) -> dict[str, str]:
    """GIT_AUTHOR_*/GIT_COMMITTER_* from the host's `git config` (one call; nothing when git
    is missing, says nothing, or the values would not survive an engine's argv)."""
    from oubliette.engines import process

    try:
        result = process.capture(["git", "config", "--get-regexp", r"^user\.(name|email)$"], timeout=GIT_SECONDS,
                                 env=dict(env), limit=4096)
    except process.ProcessError:
        return {}
    found = {}
    for line in result.stdout.splitlines() if result.ok else ():
        key, _, value = line.partition(" ")
        if key in ("user.name", "user.email") and value and value.isprintable() and len(value) <= 200:
            found[key] = value
    identity: dict[str, str] = {}
    if "user.name" in found:
        identity.update(GIT_AUTHOR_NAME=found["user.name"], GIT_COMMITTER_NAME=found["user.name"])
    if "user.email" in found:
        identity.update(GIT_AUTHOR_EMAIL=found["user.email"], GIT_COMMITTER_EMAIL=found["user.email"])
    return identity


def session_identity(identity_config: Mapping[str, object], env: Mapping[str, str]) -> dict[str, str]:
    """What every session gets, as the config allows."""
    return git_identity(env) if identity_config.get("git", True) is not False else {}
