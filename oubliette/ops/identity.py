"""Who the person is, carried into their sessions: the host's git name and email (so a
`git commit` in the container is theirs), unless the config's `"identity": {"git": false}`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

GIT_SECONDS = 5


def git_identity(env: Mapping[str, str]) -> Callable[[], dict[str, str]]:
    """GIT_AUTHOR_*/GIT_COMMITTER_* from the host's `git config`, asked now and read when
    called, so the call overlaps the session's own set-up (nothing when git is missing,
    says nothing, or the values would not survive an engine's argv)."""
    import subprocess

    from oubliette.engines import process

    try:
        proc = process.spawn(["git", "config", "--get-regexp", r"^user\.(name|email)$"], env=dict(env),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    except process.ProcessError:
        return dict

    def answer() -> dict[str, str]:
        try:
            out, _ = proc.communicate(timeout=GIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {}
        return _identity(out[:4096].decode(errors="replace")) if proc.returncode == 0 else {}

    return answer


def _identity(config: str) -> dict[str, str]:
    found = {}
    for line in config.splitlines():
        key, _, value = line.partition(" ")
        if key in ("user.name", "user.email") and value and value.isprintable() and len(value) <= 200:
            found[key] = value
    identity: dict[str, str] = {}
    if "user.name" in found:
        identity.update(GIT_AUTHOR_NAME=found["user.name"], GIT_COMMITTER_NAME=found["user.name"])
    if "user.email" in found:
        identity.update(GIT_AUTHOR_EMAIL=found["user.email"], GIT_COMMITTER_EMAIL=found["user.email"])
    return identity


def session_identity(identity_config: Mapping[str, object], env: Mapping[str, str]) -> Callable[[], dict[str, str]]:
    """What every session gets, as the config allows: asked now, read when called."""
    return git_identity(env) if identity_config.get("git", True) is not False else dict
