"""A hostile container on a real engine (issue 20): what `workspace pull` brings back from
it stays inside DEST, without devices or setuid bits; `exec` keeps a bounded output and
its timeout ends every process the command started. Run on every engine, the cluster's too."""

from __future__ import annotations

import resource
import stat
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import oubliette


@pytest.fixture
def engine(any_engine):
    return any_engine


@pytest.fixture
def project(engine, images, home) -> tuple[str, str]:
    """A running project on the scenario's engine: (id, container name)."""
    image = images.push(images.repo("hostile"))
    engine.configure(home, {"dev": image.ref})
    created = oubliette("project", "create", f"h-{uuid.uuid4().hex[:6]}", *engine.create_args, home=home)
    assert created.returncode == 0, created.stderr
    project_id = created.stdout.strip()
    started = oubliette("container", "start", project_id, home=home)
    assert started.returncode == 0, started.stderr
    return project_id, f"oubliette-{project_id}"


def as_root(home: Path, project_id: str, script: str) -> None:
    done = oubliette("session", "start", "--root", project_id, "--", "sh", "-c", script, home=home)
    assert done.returncode == 0, done.stderr


def test_pull_keeps_links_devices_and_setuid_bits_out_of_dest(engine, project, home, tmp_path):
    project_id, name = project
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    as_root(home, project_id, f"""
        ln -s {outside} /workspace/out
        busybox mkfifo /workspace/pipe
        busybox mknod /workspace/nulldev c 1 3 2>/dev/null || true
        cp /bin/busybox /workspace/suid && busybox chmod 4755 /workspace/suid
        echo fine > /workspace/ok.txt""")
    made = set(engine.out("exec", name, "ls", "/workspace").split())
    pulled = oubliette("workspace", "pull", project_id, str(dest), home=home)
    assert pulled.returncode == 0, pulled.stderr
    assert (dest / "ok.txt").read_text() == "fine\n"
    assert not (dest / "out").exists() and not (dest / "out").is_symlink()
    assert not (dest / "pipe").exists() and not (dest / "nulldev").exists()
    assert stat.S_IMODE((dest / "suid").stat().st_mode) == 0o755
    for refused in ("out", "pipe", *({"nulldev"} & made)):
        assert f"./{refused}: skipped" in pulled.stderr, pulled.stderr
    assert "./suid: setuid" in pulled.stderr

    # A second pull into a DEST where `out` is a link to outside (left by an older oubliette,
    # or by hand), from a container where `out` is now a directory holding `evil`.
    (dest / "out").symlink_to(outside)
    as_root(home, project_id, "rm /workspace/out && mkdir /workspace/out && echo pwned > /workspace/out/evil")
    pulled = oubliette("workspace", "pull", project_id, str(dest), home=home)
    assert pulled.returncode == 0, pulled.stderr
    assert list(outside.iterdir()) == [] and "./out/evil: skipped" in pulled.stderr, pulled.stderr


def test_pull_reaches_tar_as_push_does_in_an_image_without_a_tar_binary(engine, project, home, tmp_path):
    """BusyBox's shell runs its own tar applet: through the session wrapper, pull finds it."""
    project_id, _ = project
    as_root(home, project_id, "busybox rm /bin/tar && echo kept > /workspace/f")
    pulled = oubliette("workspace", "pull", project_id, str(tmp_path / "d"), home=home)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "d" / "f").read_text() == "kept\n"


def test_exec_keeps_a_bounded_output_and_its_timeout_ends_the_whole_tree(engine, project, home):
    from oubliette.app import App
    from oubliette.errors import OublietteError
    from oubliette.ops.sessions import OUTPUT_CAP, exec_captured
    from oubliette.report import Reporter

    project_id, name = project
    app = App(home=str(home), reporter=Reporter(to_stderr=True))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = exec_captured(app, project_id, ["busybox", "head", "-c", "300000000", "/dev/zero"], app.reporter)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.exit_code == 0 and result.truncated and len(result.stdout) == OUTPUT_CAP
    assert grown_mb < 100, f"{grown_mb:.0f} MB more memory for 300 MB of output"

    tree = ("sleep 1001 & sleep 1002 & (sleep 1005 &); busybox setsid sleep 1004 & "
            "sh -c 'trap \"\" HUP TERM; sleep 1003' & wait")
    with pytest.raises(OublietteError, match="timed out"):
        exec_captured(app, project_id, ["sh", "-c", tree], app.reporter, timeout_s=3)
    left = [line for line in engine.out("exec", name, "ps", "-o", "args").splitlines() if "sleep 100" in line]
    assert left == []
    assert engine.runs(name)
