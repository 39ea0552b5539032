#!/bin/sh
# Entrypoint of the oubliette images: prepare the container, then exec its command.
#
# The project's workspace is bind-mounted at /workspace and keeps the host's owner:
# root in CI or on a root host, 501 on macOS, 1000 or another uid on Linux. Sessions
# must be able to write there, so before running the command this script, as root:
#   - workspace owned by a non-root uid: gives the session user (dev) that uid, and
#     that gid when it is free (else adds dev to the group that has it), so files
#     created in a session belong to the host user who owns the workspace;
#   - workspace owned by root: sessions run as root, who owns it on the host too;
# and records who sessions run as in /etc/oubliette/session-user, which
# `oubliette session start` reads. Started as a non-root user, it changes nothing.
set -eu

session_user=${OUBLIETTE_SESSION_USER:-dev}
workspace=${OUBLIETTE_WORKSPACE:-/workspace}

align_session_user() {
  owner_uid=$(stat -c %u "$workspace")
  owner_gid=$(stat -c %g "$workspace")
  if [ "$owner_uid" = 0 ]; then
    echo root
    return
  fi
  if [ "$(id -u "$session_user")" != "$owner_uid" ]; then
    # -o: another account of the image may already hold that uid
    usermod -o -u "$owner_uid" "$session_user" >/dev/null
  fi
  if [ "$(id -g "$session_user")" != "$owner_gid" ]; then
    group=$(getent group "$owner_gid" | cut -d: -f1)
    if [ -n "$group" ]; then
      usermod -a -G "$group" "$session_user" >/dev/null
    else
      groupmod -g "$owner_gid" "$(id -gn "$session_user")" >/dev/null
    fi
  fi
  echo "$session_user"
}

if [ "$(id -u)" = 0 ] && [ -d "$workspace" ] && id "$session_user" >/dev/null 2>&1; then
  user=$(align_session_user)
  mkdir -p /etc/oubliette
  printf '%s\n' "$user" >/etc/oubliette/session-user
fi

[ "$#" -gt 0 ] || set -- sleep infinity
exec "$@"
