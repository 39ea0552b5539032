"""Who the person is, carried into their sessions: the host's git name and email (so a
`git commit` in the container is theirs), unless the config's `"identity": {"git": false}`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

GIT_SECONDS = 5


# What a process that runs many sessions (the MCP server) asked git last, by the files it reads.
_ASKED: dict[tuple, dict[str, str]] = {}
_GIT_ENV = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_DIR",
            "GIT_CONFIG_COUNT")


def git_identity(env: Mapping[str, str], keep: bool = False) -> Callable[[], dict[str, str]]:
    """GIT_AUTHOR_*/GIT_COMMITTER_* from the host's `git config`, asked now and read when
    called, so the call overlaps the session's own set-up (nothing when git is missing,
    says nothing, or the values would not survive an engine's argv). `keep` (a process that
    runs many sessions): the answer is kept for a minute at most, while the config files git
    reads are unchanged and include no others; a one-session command never looks at them."""
    import subprocess

    from oubliette.engines import process

    key = _config_key(env) if keep else None
    cached = _ASKED.get(key) if key is not None else None
    if cached is not None:
        return lambda: dict(cached)
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
        found = _identity(out[:4096].decode(errors="replace")) if proc.returncode == 0 else {}
        if key is not None:
            _ASKED.clear()
            _ASKED[key] = found
        return dict(found)

    return answer


def _config_key(env: Mapping[str, str]) -> tuple | None:
    """What git's answer depends on: its variables, and the files it reads (the user's,
    the system's, the current repository's), by inode, size and time. None (ask every
    time) when one of them includes other files, which this key would not see."""
    import os
    import time

    home, xdg = env.get("HOME", ""), env.get("XDG_CONFIG_HOME", "")
    paths = [env.get("GIT_CONFIG_GLOBAL") or os.path.join(home, ".gitconfig"),
             os.path.join(xdg or os.path.join(home, ".config"), "git", "config"),
             env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig", os.path.join(os.getcwd(), ".git", "config")]
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
            with open(path, "rb") as handle:
                if b"include" in handle.read(1 << 20).lower():
                    return None
        except OSError:
            info = None
        stamps.append((path, info and (info.st_ino, info.st_size, info.st_mtime_ns)))
    minute = int(time.monotonic() // 60)  # and a repository above the current directory is seen within a minute
    return (tuple(env.get(name) for name in _GIT_ENV), os.getcwd(), tuple(stamps), minute)


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


def session_identity(identity_config: Mapping[str, object], env: Mapping[str, str],
                     keep: bool = False) -> Callable[[], dict[str, str]]:
    """What every session gets, as the config allows: asked now, read when called."""
    return git_identity(env, keep) if identity_config.get("git", True) is not False else dict
