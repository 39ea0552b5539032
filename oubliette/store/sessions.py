"""The active-session registry: which commands are running in which project container.

A session is the local `oubliette session start` process plus the command it runs in
the container. Its record (`<home>/data/projects/<id>/sessions/<sid>.json`) holds the
local pid and that process's start time, so a pid the OS has since reused is not
mistaken for the session. Records of dead processes are stale and removed on sight.
A record's id comes from its file name, never from its contents, and a record that
cannot be read is reported and left alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from oubliette.engines.pids import PID_MAX
from oubliette.errors import InvalidReferenceError, NotFoundError
from oubliette.model import id_prefix
from oubliette.store.files import names_in, os_error, private_dir, read_home_file, write_atomic
from oubliette.store.home import projects_dir

SESSION_ID_RE = re.compile(r"sess_[0-9a-f]{8}")
RECORD_MAX_BYTES = 1024 * 1024  # a record holds the command's argv; more than this is not one of ours
PID_DIR = "/tmp/.oubliette-sessions"
NOT_THIS_HOME = 199  # the wrapper's exit when asked to check a container some other home made (or an older one)
LIST_HINT = "list sessions with `oubliette session list`"

# Runs in the container: note our pid for `session end`, then become the command.
# When the image names a session user (/etc/oubliette/session-user, written by the
# oubliette images' init script), a root exec switches to that user first, unless the
# session asked for root (`session start --root`: OUBLIETTE_SESSION_ROOT=1). Every
# session runs it, so the shell's own tests come first and programs run only when
# needed: `mkdir` and `chmod` on a container's first session, `id` where a session user
# is named (each a fork and exec in an image whose sh does not build them in).
WRAPPER = rf"""
if [ "$1" != - ] && [ "$OUBLIETTE_HOME_ID" != "$1" ]; then exit {NOT_THIS_HOME}; fi
shift
[ -d {PID_DIR} ] || {{ mkdir -p {PID_DIR} && chmod 1777 {PID_DIR}; }} 2>/dev/null
echo $$ > {PID_DIR}/$OUBLIETTE_SESSION_ID.pid 2>/dev/null
if [ -z "$OUBLIETTE_SESSION_ROOT" ] && [ -r /etc/oubliette/session-user ] && [ "$(id -u)" = 0 ]; then
  user=$(cat /etc/oubliette/session-user)
  if [ -n "$user" ] && [ "$user" != root ] && command -v setpriv >/dev/null 2>&1; then
    home=$(getent passwd "$user" | cut -d: -f6)
    export HOME="${{home:-/home/$user}}" USER="$user" LOGNAME="$user"
    exec setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
  fi
fi
exec "$@"
""".strip()

DEFAULT_SHELL = ["sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi"]

# Stops the session's command in the container, and everything it started: every process
# whose environment carries the session's id (children inherit it, whether they trap
# signals, start their own session with setsid, or were orphaned by a `(cmd &)`). HUP
# (interactive shells ignore TERM), then TERM, then after a grace period KILL, twice, for
# what was forked meanwhile.
END_SCRIPT = rf"""
sid=$1
members() {{
  for e in /proc/[0-9]*/environ; do
    p=${{e#/proc/}}; p=${{p%/environ}}
    [ "$p" = "$$" ] && continue
    tr '\0' '\n' < "$e" 2>/dev/null | grep -qx "OUBLIETTE_SESSION_ID=$sid" && echo "$p"
  done
}}
pids=$(members)
if [ -n "$pids" ]; then
  kill -HUP $pids 2>/dev/null; kill -TERM $pids 2>/dev/null
  i=0
  while [ $i -lt 20 ]; do
    alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && break
    sleep 0.1 2>/dev/null || sleep 1; i=$((i+1))
  done
  for round in 1 2; do pids=$(members); [ -n "$pids" ] && kill -KILL $pids 2>/dev/null; done
fi
rm -f {PID_DIR}/"$sid".pid
exit 0
""".strip()


def wrap_command(command: list[str], home_id: str | None = None) -> list[str]:
    """The argv run in the container for a session of `command` (default: a login shell).
    With `home_id`, it runs only in a container made by that home (its OUBLIETTE_HOME_ID),
    else exits NOT_THIS_HOME: the check of an exec that did not look at the container first."""
    return ["sh", "-c", WRAPPER, "oubliette-session", home_id or "-", *(command or DEFAULT_SHELL)]


def end_command(session_id: str) -> list[str]:
    """Run as root in the container (`user="0"`): it must see and signal every process of the session."""
    return ["sh", "-c", END_SCRIPT, "oubliette-session-end", session_id]


class Session(NamedTuple):  # not a dataclass: defining one costs a session start ~1 ms
    id: str
    project_id: str
    pid: int
    pid_started: str
    command: list[str]
    started_at: str = ""
    client: str = "cli"  # "cli": pid is `session start`'s own; "agent": pid is the MCP server's

    def to_dict(self) -> dict:
        return {**self._asdict(), "command": list(self.command)}


def process_start_time(pid: int) -> str | None:
    """An opaque start stamp for `pid`, or None if there is no such process."""
    from oubliette.engines.pids import start_stamp

    return start_stamp(pid)


class SessionRegistry:
    def __init__(self, home: str | os.PathLike[str], warn: Callable[[str], None] | None = None) -> None:
        self.root = projects_dir(home)
        self.warn = warn or (lambda _message: None)

    def _dir(self, project_id: str) -> str:
        return os.path.join(self.root, project_id, "sessions")

    def register(self, project_id: str, command: list[str], pid: int | None = None, client: str = "cli") -> Session:
        pid = os.getpid() if pid is None else pid
        stamp = process_start_time(pid) or ""
        # the id from os.urandom, not `secrets`: hashlib behind it costs a session start ~3 ms
        session = Session("sess_" + os.urandom(4).hex(), project_id, pid, stamp, list(command),
                          datetime.now(timezone.utc).replace(microsecond=0).isoformat(), client)
        try:
            private_dir(self._dir(project_id))
            # not durable: a record that a crash loses belonged to a session the crash ended
            write_atomic(os.path.join(self._dir(project_id), f"{session.id}.json"),
                         json.dumps(session.to_dict()) + "\n", durable=False)
        except OSError as exc:
            raise os_error("cannot record the session", exc) from None
        return session

    def unregister(self, session: Session) -> None:
        try:
            os.unlink(os.path.join(self._dir(session.project_id), f"{session.id}.json"))
        except OSError:
            pass  # gone already, or a read-only home: the record is stale either way

    def is_alive(self, session: Session) -> bool:
        stamp = process_start_time(session.pid)
        return stamp is not None and stamp == session.pid_started

    def active(self, project_id: str | None = None) -> list[Session]:
        """Live sessions (of one project, or all); stale records are removed on the way."""
        live = []
        for session in self._records(project_id):
            if self.is_alive(session):
                live.append(session)
            else:
                self.unregister(session)
        return sorted(live, key=lambda s: (s.started_at, s.id))

    def get(self, id_or_prefix: str) -> Session:
        """A session record (live or stale) by id or unique prefix."""
        prefix = id_prefix(id_or_prefix, "sess", 8)
        if prefix is None:
            raise InvalidReferenceError(f"invalid session id {id_or_prefix!r}: expected sess_ and up to 8 hex digits",
                                        hint=LIST_HINT)
        matches = [s for s in self._records(None) if s.id.startswith(prefix)]
        if not matches:
            raise NotFoundError(f"no session matches {id_or_prefix!r}", hint=LIST_HINT)
        if len(matches) > 1:
            raise NotFoundError(f"{id_or_prefix!r} matches {len(matches)} sessions: "
                                f"{', '.join(sorted(s.id for s in matches))}", hint="give more of the id")
        return matches[0]

    def _records(self, project_id: str | None) -> list[Session]:
        if project_id:
            dirs = [self._dir(project_id)]
        else:
            dirs = sorted(self._dir(name) for name in names_in(self.root) if name.startswith("proj_"))
        found = []
        for directory in dirs:
            for name in sorted(names_in(directory)):
                if name.startswith("sess_") and name.endswith(".json"):
                    session = self._read(directory, name)
                    if session is not None:
                        found.append(session)
        return found

    def _read(self, directory: str, name: str) -> Session | None:
        session_id, project_id = name[:-len(".json")], os.path.basename(os.path.dirname(directory))
        path = os.path.join(directory, name)
        try:
            data = json.loads(read_home_file(path, RECORD_MAX_BYTES))
            problem = None if SESSION_ID_RE.fullmatch(session_id) else "its file name is not a session id"
            problem = problem or _record_problem(data, session_id, project_id)
        except RecursionError:
            problem = "nested too deeply"
        except (OSError, ValueError) as exc:
            problem = str(exc)
        if problem:
            self.warn(f"session record {path} is damaged ({problem}); ignored - remove that file")
            return None
        return Session(session_id, project_id, data["pid"], data["pid_started"], list(data["command"]),
                       data["started_at"], data.get("client", "cli"))


def _record_problem(data: Any, session_id: str, project_id: str) -> str | None:
    if not isinstance(data, dict):
        return "expected a JSON object"
    if data.get("id") != session_id or data.get("project_id") != project_id:
        return "its id or project does not match where it is stored"
    pid = data.get("pid")
    if type(pid) is not int or not 0 < pid < PID_MAX:
        return f"pid: expected a process id, got {pid!r}"[:120]
    if not isinstance(data.get("pid_started"), str) or not isinstance(data.get("started_at"), str):
        return "pid_started and started_at must be strings"
    command = data.get("command")
    if not isinstance(command, list) or not all(isinstance(arg, str) for arg in command):
        return "command: expected a list of strings"
    if data.get("client", "cli") not in ("cli", "agent"):
        return "client: expected cli or agent"
    return None
