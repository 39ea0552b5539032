"""What scripts/bench.py stands on: the engine under test, a loopback registry, an offline
image, a logging wrapper that counts engine calls, and timing helpers.

One `BenchEngine` per engine CLI (docker, podman): its binary alone on PATH (so oubliette's
auto-detection picks it and makes no probe), the environment its CLI needs (podman: a
registries.conf marking the loopback registry plain http, a containers.conf with the
ulimits this VM needs), and the raw listing the floors replay.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
from pathlib import Path

ENGINE_NAMES = ("docker", "podman")


class BenchEngine:
    """One engine CLI as the bench drives it, raw and under oubliette."""

    def __init__(self, name: str, work: Path) -> None:
        binary = shutil.which(name)
        if binary is None:
            raise SystemExit(f"bench: `{name}` is not installed")
        self.name, self.binary, self.work = name, binary, work / name
        self.work.mkdir(parents=True)
        alone = self.work / "bin"  # one engine installed, as the targets assume: auto makes no probe
        alone.mkdir()
        (alone / name).symlink_to(binary)
        path = str(alone) if name == "docker" else f"{alone}{os.pathsep}/usr/sbin"  # podman runs iptables
        self.env: dict[str, str] = {**os.environ, "PATH": path}  # the raw commands' and oubliette's
        for variable in ("OUBLIETTE_RUNTIME", "OUBLIETTE_DEV", "OUBLIETTE_HOME"):
            self.env.pop(variable, None)
        if name == "podman":
            self.env.update(podman_conf(self.work))

    def reachable(self) -> bool:
        return subprocess.run([self.binary, "info"], capture_output=True, env=self.env).returncode == 0

    def list_argv(self, label: str, include_stopped: bool = False) -> list[str]:
        """The listing `container list` makes, exactly: the floor replays it."""
        if self.name == "podman":
            from oubliette.engines.podman import list_argv
        else:
            from oubliette.engines.docker import list_argv
        return list_argv(self.name, label, include_stopped)

    def raw_listing_argv(self, label: str) -> list[str]:
        """A plain `ps -a` of the containers carrying `label`, as a user would write it."""
        form = "json" if self.name == "podman" else "{{json .}}"
        return [self.name, "ps", "--all", "--no-trunc", "--filter", f"label={label}", "--format", form]

    def push(self, image: str) -> None:
        subprocess.run([self.name, "push", "-q", image], check=True, capture_output=True, env=self.env)

    def remove_labelled(self, label: str) -> None:
        found = subprocess.run([self.name, "ps", "-aq", "--filter", f"label={label}"], capture_output=True,
                               text=True, env=self.env).stdout.split()
        if found:
            subprocess.run([self.name, "rm", "--force", *found], capture_output=True, env=self.env)

    def remove_image(self, image: str) -> None:
        subprocess.run([self.name, "image", "rm", "--force", image], capture_output=True, env=self.env)


def podman_conf(work: Path) -> dict[str, str]:
    """registries.conf (the bench's registry is plain http on loopback) and containers.conf
    (the ulimits this VM needs; runc where crun refuses a hybrid cgroup machine)."""
    runtime = ""
    try:
        if Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().strip() and shutil.which("runc"):
            runtime = '[engine]\nruntime = "runc"\n'
    except OSError:
        pass
    (work / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' + runtime)
    (work / "registries.conf").write_text('[[registry]]\nlocation = "localhost"\ninsecure = true\n')
    return {"CONTAINERS_CONF": str(work / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(work / "registries.conf")}


def plain_python(directory: Path, root: Path) -> Path:
    """A python that imports oubliette as a regular install does, from its directory, and the
    packages of this one (click): a venv with one .pth naming them. An editable install's
    finder is imported by every python its venv starts (~7 ms of pathlib, re, urllib and more
    here), the floors' too, so timing from one flatters every ratio to a floor; this python's
    site processes no .pth of the editable install (paths a .pth adds are not site dirs)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    python = directory / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(purelib) / "oubliette-bench.pth").write_text("\n".join([str(root), *ours]) + "\n")
    script = directory / "bin" / "oubliette"  # the console script, as pip writes it from setup.cfg
    script.write_text(f"#!{python}\nimport re\nimport sys\nfrom oubliette.__main__ import main\n"
                      "if __name__ == '__main__':\n"
                      "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                      "    sys.exit(main())\n")
    script.chmod(0o755)
    return python


def oubliette_command() -> list[str]:
    """How the bench runs oubliette: the console script beside this python (the plain one
    plain_python made), else `python -m oubliette`."""
    script = Path(sys.executable).with_name("oubliette")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "oubliette"]


def run(command: list[str], env: dict) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    run(command, env)
    return time.perf_counter() - started


def start_registry(sh, work: Path):
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise SystemExit("bench: docker-registry is not installed (Debian package docker-registry)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (work / "registry.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {work / 'registry'}}}}}\n"
        f'http: {{addr: "127.0.0.1:{port}"}}\n')
    process = sh.Command(binary)("serve", str(work / "registry.yml"), _bg=True, _bg_exc=False,
                                 _out=str(work / "registry.log"), _err_to_out=True)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return process, f"localhost:{port}"


def make_image(engine: BenchEngine, ref: str) -> None:
    """A busybox root file system whose command keeps running, imported as an image."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("bench: busybox is not installed (Debian package busybox-static)")
    tar_path = engine.work / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "true"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    subprocess.run([engine.name, "import", "--change", 'CMD ["sleep","infinity"]', str(tar_path), ref],
                   check=True, capture_output=True, env=engine.env)


def make_wrapper(engine: BenchEngine, log: Path) -> Path:
    """A directory whose `docker` (or `podman`) logs its arguments, then runs the real one."""
    directory = engine.work / "wrapper"
    directory.mkdir()
    wrapper = directory / engine.name
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{engine.binary}" "$@"\n')
    wrapper.chmod(0o755)
    return directory


def count_calls(log: Path, action) -> list[str]:
    log.write_text("")
    action()
    return [line for line in log.read_text().splitlines() if line]


def summarise(calls: list[str]) -> str:
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.split()[0]] = counts.get(call.split()[0], 0) + 1
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr)
