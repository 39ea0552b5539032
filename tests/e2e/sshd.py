"""A real `sshd` on loopback, started by the tests, standing in for a build box reached
over SSH (`"host": "ssh://root@127.0.0.1:PORT"`); the "remote" docker is this machine's.

Everything is the test's own: a port, a host key, client keys, an authorized_keys file
and a client config. Docker's SSH helper runs `ssh` from PATH, so the tests put a
one-line `ssh` first on PATH that adds `-F CONFIG` (ssh reads the passwd user's
~/.ssh/config otherwise, which the tests must not touch; IdentityFile accumulates across
blocks, so only the round trip's `Host 127.0.0.1` names the good key). Host aliases in that config
make the bad cases: an unknown host key, a refused key, a login whose PATH has no
docker, a host that accepts connections and never speaks, a closed port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


class SSHServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.bin = root / "bin"
        self.proc: subprocess.Popen | None = None
        self._silent: socket.socket | None = None
        self.silent_port = 0
        self.closed_port = _free_port()

    # --- the server -----------------------------------------------------------------

    def start(self) -> None:
        root = self.root
        for name in ("host", "good", "bad", "nodocker"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"oubliette-test-{name}",
                            "-f", str(root / name)], check=True)
        (root / "authorized_keys").write_text(
            (root / "good.pub").read_text()
            + 'environment="PATH=/nonexistent" ' + (root / "nodocker.pub").read_text())
        (root / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {root / "host"}
PidFile {root / "sshd.pid"}
AuthorizedKeysFile {root / "authorized_keys"}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment PATH
UsePAM no
StrictModes no
""")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege-separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=open(root / "sshd.log", "wb"))
        deadline = time.monotonic() + 20
        while not _answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()[-2000:]}")
            time.sleep(0.05)
        self._listen_silently()
        self._write_client_config()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        if self._silent is not None:
            self._silent.close()

    def _listen_silently(self) -> None:
        """A port that accepts connections and never says a word: a host that does not answer."""
        self._silent = socket.socket()
        self._silent.bind(("127.0.0.1", 0))
        self._silent.listen(8)
        self.silent_port = self._silent.getsockname()[1]
        held: list[socket.socket] = []

        def accept() -> None:
            while True:
                try:
                    held.append(self._silent.accept()[0])
                except OSError:
                    break
            for connection in held:
                connection.close()

        threading.Thread(target=accept, daemon=True).start()

    def _write_client_config(self) -> None:
        root = self.root
        known = f"[127.0.0.1]:{self.port} " + " ".join((root / "host.pub").read_text().split()[:2]) + "\n"
        (root / "known_hosts").write_text(known)
        (root / "empty_known_hosts").write_text("")
        base = f"  HostName 127.0.0.1\n  Port {self.port}\n  User root\n  IdentitiesOnly yes\n"
        (root / "ssh_config").write_text(f"""\
Host unknown-host
{base}  IdentityFile {root / "good"}
  UserKnownHostsFile {root / "empty_known_hosts"}
Host refused-key
{base}  IdentityFile {root / "bad"}
Host no-docker
{base}  IdentityFile {root / "nodocker"}
Host silent
  HostName 127.0.0.1
  Port {self.silent_port}
Host closed
  HostName 127.0.0.1
  Port {self.closed_port}
Host 127.0.0.1
  IdentityFile {root / "good"}
  IdentitiesOnly yes
Host *
  UserKnownHostsFile {root / "known_hosts"}
  GlobalKnownHostsFile /dev/null
""")
        self.bin.mkdir(exist_ok=True)
        wrapper = self.bin / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F "{root / "ssh_config"}" "$@"\n')
        wrapper.chmod(0o755)

    # --- for the tests ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """The round trip's endpoint, as a user writes it: user, host and port."""
        return f"ssh://root@127.0.0.1:{self.port}"

    def path_env(self) -> str:
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.settimeout(2)
            return connection.recv(4).startswith(b"SSH-")
    except OSError:
        return False
