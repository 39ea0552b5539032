"""Hostile input from a container, a home file or a hung engine (issue 20): each numbered
finding of that attack has a test here that failed before the fix."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from oubliette.engines import process
from oubliette.errors import EngineUnavailableError, OublietteError
from oubliette.ops import untar
from oubliette.store.sessions import END_SCRIPT
from tests.unit.helpers import assert_clean_error, create, started, write_config

# --- 1, 2: workspace pull writes only inside DEST, and no devices or setuid bits ------------


def archive(*members: tuple[str, bytes, dict]) -> io.BytesIO:
    """A tar stream as a container could send it: (name, type, attributes) each."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, attributes in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, attributes.get("mode", 0o644), 1_700_000_000
            info.linkname = attributes.get("link", "")
            data = attributes.get("data", b"")
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    buffer.seek(0)
    return buffer


def test_a_second_pull_through_a_link_left_by_the_first_writes_nothing_outside(tmp_path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "out").symlink_to(outside)  # what the first pull left, by an older oubliette or by hand
    done = untar.extract(archive(("out/evil", tarfile.REGTYPE, {"data": b"pwned"}),  # no entry for out/
                                 ("ok.txt", tarfile.REGTYPE, {"data": b"fine"})), str(dest))
    assert list(outside.iterdir()) == []
    assert (dest / "ok.txt").read_bytes() == b"fine" and (dest / "out").is_symlink()
    assert any(w.startswith("out/evil: skipped") and "symbolic link" in w for w in done.warnings)


def test_links_that_leave_dest_are_refused_and_links_inside_are_kept(tmp_path):
    (tmp_path / "d").mkdir()
    done = untar.extract(archive(("./out", tarfile.SYMTYPE, {"link": str(tmp_path)}),
                                 ("./up", tarfile.SYMTYPE, {"link": "../../etc"}),
                                 ("./sub/in", tarfile.SYMTYPE, {"link": "../target"}),
                                 ("./target", tarfile.REGTYPE, {"data": b"t"}),
                                 ("./hard", tarfile.LNKTYPE, {"link": "./target"}),
                                 ("./passwd", tarfile.LNKTYPE, {"link": "/etc/passwd"}),
                                 ("../escape", tarfile.REGTYPE, {"data": b"x"}),
                                 ("/abs", tarfile.REGTYPE, {"data": b"x"}),
                                 ("a/../../b", tarfile.REGTYPE, {"data": b"x"})), str(tmp_path / "d"))
    d = tmp_path / "d"
    assert sorted(p.name for p in d.rglob("*")) == ["hard", "in", "sub", "target"]
    assert os.readlink(d / "sub/in") == "../target" and (d / "hard").read_bytes() == b"t"
    assert os.stat(d / "hard").st_ino == os.stat(d / "target").st_ino
    assert not (tmp_path / "escape").exists() and not Path("/abs").exists()
    named = " ".join(done.warnings)
    for member in ("./out", "./up", "./passwd", "../escape", "/abs", "a/../../b"):
        assert f"{member}: skipped" in named


def test_devices_fifos_and_setuid_bits_never_reach_dest(tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    done = untar.extract(archive(("nulldev", tarfile.CHRTYPE, {"mode": 0o666}),
                                 ("disk", tarfile.BLKTYPE, {}),
                                 ("pipe", tarfile.FIFOTYPE, {}),
                                 ("suid", tarfile.REGTYPE, {"data": b"#!", "mode": 0o4755}),
                                 ("sgid-dir", tarfile.DIRTYPE, {"mode": 0o2775})), str(dest))
    assert sorted(os.listdir(dest)) == ["sgid-dir", "suid"]
    assert stat.S_IMODE(os.stat(dest / "suid").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "sgid-dir").st_mode) == 0o775
    named = " ".join(done.warnings)
    assert "nulldev: skipped: a character device" in named and "pipe: skipped: a FIFO" in named
    assert "disk: skipped: a block device" in named and "suid: setuid" in named


def test_a_file_replaces_a_link_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "secret"
    outside.write_text("keep")
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "f").symlink_to(outside)
    untar.extract(archive(("f", tarfile.REGTYPE, {"data": b"new"})), str(dest))
    assert outside.read_text() == "keep" and not (dest / "f").is_symlink() and (dest / "f").read_text() == "new"


@pytest.mark.parametrize("stream", [
    b"x" * 512,  # a header whose checksum cannot match
    archive(("f", tarfile.REGTYPE, {"data": b"y" * 5000})).getvalue()[:1500],  # cut short
])
def test_a_stream_that_is_not_tar_is_a_format_error(tmp_path, stream):
    with pytest.raises(untar.TarFormatError):
        untar.extract(io.BytesIO(stream), str(tmp_path))


def test_an_oversized_long_name_header_is_refused_before_it_is_read(tmp_path):
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = tarfile.GNUTYPE_LONGNAME, 10 * 1024**3  # a 10 GB name
    stream = io.BytesIO(header.tobuf(format=tarfile.GNU_FORMAT) + b"a" * 4096)
    with pytest.raises(untar.TarFormatError, match="header record"):
        untar.extract(stream, str(tmp_path))


def test_a_pull_whose_container_has_no_tar_says_so(monkeypatch):
    from oubliette.engines.docker import DockerRuntime
    from oubliette.ops.workspace import _check_pull

    failed = process.Result(["docker", "exec"], 127, "", 'sh: exec: line 12: tar: not found\n')
    with pytest.raises(OublietteError, match="the container has no `tar`"):
        _check_pull(failed, None, Path("/d"), DockerRuntime())


def test_a_pull_onto_a_full_disk_names_the_disk_not_the_containers_echo():
    from oubliette.engines.docker import DockerRuntime
    from oubliette.ops.workspace import _check_pull

    echo = process.Result(["docker", "exec"], 1, "", "tar: write error: Broken pipe\n")
    full = OSError(errno.ENOSPC, "No space left on device", "big.bin")
    with pytest.raises(OublietteError, match="No space left on device") as caught:
        _check_pull(echo, full, Path("/d"), DockerRuntime())
    assert "Broken pipe" not in caught.value.message


def test_tars_own_closing_line_never_hides_the_cause():
    from oubliette.ops.workspace import _exec_detail

    stderr = ("tar: ./big: Cannot write: No space left on device\n"
              "tar: Exiting with failure status due to previous errors\n")
    assert _exec_detail(stderr) == "tar: ./big: Cannot write: No space left on device"


# --- 3, 7: MCP over stdio answers every malformed message and keeps serving -------------------


def mcp_stdio(lines: list[bytes], home: Path, expect: int) -> list[dict]:
    """Send `lines` to a real `oubliette mcp`, read `expect` replies (bounded), then close."""
    proc = subprocess.Popen([sys.executable, "-m", "oubliette", "mcp"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OUBLIETTE_HOME": str(home)})
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        for line in lines:
            proc.stdin.write(line + b"\n")
        proc.stdin.flush()
        replies = [json.loads(proc.stdout.readline()) for _ in range(expect)]
        proc.stdin.close()
        assert proc.wait() == 0, proc.stderr.read().decode()
    finally:
        timer.cancel()
        proc.kill()
    return replies


def test_mcp_stdio_answers_deep_and_malformed_messages_and_keeps_serving(oubliette_home):
    init = json.dumps({"jsonrpc": "2.0", "id": 99, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    bad = [b"[" * 2000,
           b'{"jsonrpc": "2.0", "id": 1, "method": "x", "params": ' + b"[" * 3000 + b"]" * 3000 + b"}",
           b'{"jsonrpc": "2.0", "id": 2, "method": "x", "params": ' + b"[" * 100 + b"]" * 100 + b"}",
           b'{"jsonrpc": "2.0", "method": 1, "id": 3}', b'{"jsonrpc": "2.0", "method": "x", "id": {"a": 1}}',
           b'{"jsonrpc": "2.0", "method": "x", "id": true}', b'{"jsonrpc": "2.0", "method": "x", "id": 1.5}',
           b'{"jsonrpc": "2.0", "method": "x", "id": 4, "params": "x"}']
    replies = mcp_stdio([*bad, init.encode()], oubliette_home, expect=len(bad) + 1)
    codes = [reply.get("error", {}).get("code") for reply in replies[:-1]]
    assert codes == [-32700, -32700, -32600, -32600, -32600, -32600, -32600, -32600]
    assert [reply["id"] for reply in replies[2:4]] == [2, 3]
    assert replies[-1]["id"] == 99 and "result" in replies[-1]


def test_a_message_larger_than_the_bound_is_answered_without_being_held(oubliette_home, monkeypatch):
    from oubliette.mcp import stdio as mcp_stdio

    async def run() -> list[str]:
        class Wire:
            def __init__(self) -> None:
                self.written: list[str] = []

            async def write(self, text: str) -> None:
                self.written.append(text)

            async def flush(self) -> None:
                pass

        class Source:
            def __init__(self, chunks: list[bytes]) -> None:
                self.chunks = chunks

            async def read1(self, size: int) -> bytes:
                return self.chunks.pop(0) if self.chunks else b""

        wire = Wire()
        chunks = [b"x" * 65536] * 40 + [b"\n", b'{"jsonrpc": "2.0", "method": "m"}\n']
        lines = [line async for line in mcp_stdio._Checked(Source(chunks), wire)]
        return [*wire.written, *lines]

    import anyio

    monkeypatch.setattr(mcp_stdio, "MAX_LINE", 1024 * 1024)
    out = anyio.run(run)
    assert len(out) == 2 and json.loads(out[0])["error"]["code"] == -32700 and '"method": "m"' in out[1]


# --- 4: captured output is bounded ----------------------------------------------------------


def test_a_call_printing_a_gigabyte_keeps_only_the_cap_in_memory():
    """Run in a child whose address space is capped at 400 MB: holding the output would fail."""
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (400 * 2**20, 400 * 2**20))
        from oubliette.engines import process
        result = process.capture(["head", "-c", "1000000000", "/dev/zero"], limit=262144, err_limit=262144)
        assert result.ok and result.overflow and len(result.stdout) == 262144, (result.returncode, result.overflow)
        print("bounded")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "bounded" in done.stdout, done.stderr


def test_an_engine_printing_without_end_is_an_output_error(monkeypatch, tmp_path):
    from oubliette.engines.docker import DockerRuntime
    from oubliette.errors import EngineOutputError

    monkeypatch.setattr(process, "OUTPUT_LIMIT", 1 << 20)
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\nexec head -c 50000000 /dev/zero\n")
    fake.chmod(0o755)
    with pytest.raises(EngineOutputError, match="printed more than"):
        DockerRuntime(str(fake)).list_containers("oubliette.home")


# --- 5: a timeout or `session end` stops the command's whole tree -----------------------------


def test_the_end_script_stops_every_process_of_the_session_whatever_it_traps_or_detaches(tmp_path):
    """END_SCRIPT runs here as it does in a container: it finds the session by environment."""
    session = "sess_" + os.urandom(4).hex()
    tree = ("sleep 1001 & sleep 1002 & (sleep 1005 &); setsid sleep 1004 & "
            "sh -c 'trap \"\" HUP TERM; sleep 1003' & wait")
    env = {**os.environ, "OUBLIETTE_SESSION_ID": session}
    root = subprocess.Popen(["sh", "-c", tree], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(members(session)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(members(session)) >= 6
        ended = subprocess.run(["sh", "-c", END_SCRIPT, "end", session], timeout=30,
                               env={k: v for k, v in os.environ.items() if k != "OUBLIETTE_SESSION_ID"})
        assert ended.returncode == 0
        root.wait(timeout=10)
        assert members(session) == []
    finally:
        for pid in members(session):
            os.kill(pid, signal.SIGKILL)
        root.kill()


def members(session: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"OUBLIETTE_SESSION_ID={session}".encode() in \
                    (entry / "environ").read_bytes().split(b"\0") and (entry / "stat").read_text().split()[2] != "Z":
                found.append(int(entry.name))
        except OSError:
            pass
    return found


# --- 6: the config parser is linear, and a config has a size cap ------------------------------


@pytest.mark.parametrize("text", [
    "{}" + "/*a" * 40_000,
    '{"k": "' + "*/ " * 20_000 + '"}' + "/*a" * 20_000,
    '"\\"' * 40_000,
    "{" + ",/*a" * 40_000,
])
def test_the_config_parser_gives_up_fast_on_unclosed_comments_and_strings(oubliette_home, text):
    from oubliette.store.config import _strip_jsonc

    started_at = time.monotonic()
    _strip_jsonc(text)  # was quadratic: minutes for 40,000 repeats
    assert time.monotonic() - started_at < 2


def test_an_unclosed_comment_is_a_syntax_error_not_dropped(run, oubliette_home):
    write_config(oubliette_home, '{"containers": {"dev": "a/b:1"}} /* never closed')
    assert_clean_error(run("project", "options"), 1, "config syntax error")


def test_a_config_over_the_size_cap_is_an_error_naming_the_file(run, oubliette_home):
    path = write_config(oubliette_home, '{"x": "' + "a" * 100_000 + '"}')
    assert_clean_error(run("project", "options"), 1, str(path), "more than")


# --- 8: every engine call has a bound; a second signal ends a held swap -------------------------


def test_a_hung_stop_is_exit_3_naming_the_call(monkeypatch, tmp_path):
    from oubliette.engines import docker as docker_module
    from oubliette.engines.docker import DockerRuntime

    monkeypatch.setattr(docker_module, "STOP_SECONDS", 0.5)
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    started_at = time.monotonic()
    with pytest.raises(EngineUnavailableError, match="`.*docker stop web` did not answer") as caught:
        DockerRuntime(str(fake)).stop(["web"])
    assert caught.value.exit_code == 3 and time.monotonic() - started_at < 5


def test_a_second_sigterm_ends_a_held_swap_at_once():
    from oubliette.interrupts import ForcedInterrupt, defer_interrupts

    def signal_twice() -> None:
        for _ in range(2):
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        threading.Thread(target=signal_twice).start()
        started_at = time.monotonic()
        with pytest.raises(ForcedInterrupt) as caught, defer_interrupts():
            process.capture(["sleep", "20"], timeout=60)  # an engine call still inside its bound
        assert caught.value.terminated and time.monotonic() - started_at < 5
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_cli_says_what_a_cut_short_swap_leaves(run, docker, monkeypatch):
    from oubliette.interrupts import ForcedInterrupt
    from oubliette.ops import containers as lifecycle

    project_id = started(run, "web")

    def cut_short(*args, **kwargs):
        raise ForcedInterrupt(terminated=True)

    monkeypatch.setattr(lifecycle, "stop_and_remove", cut_short)
    result = run("container", "stop", project_id)
    assert result.exit_code == 143 and "Terminated." in result.stderr
    assert "cut short" in result.stderr and "container start" in result.stderr


# --- 9, 10: tracebacks and blocks on odd paths and home files -----------------------------------


def test_a_home_of_a_user_that_does_not_exist_is_an_error(run, monkeypatch):
    assert_clean_error(run("--home", "~no_such_user_x9/h", "project", "list"), 1, "~no_such_user_x9")
    monkeypatch.setenv("OUBLIETTE_HOME", "~no_such_user_x9/h")
    assert_clean_error(run("project", "list"), 1, "OUBLIETTE_HOME")


def test_workspace_and_push_pull_paths_of_unknown_users_are_errors(run, docker):
    assert_clean_error(run("project", "create", "web", "--workspace", "~no_such_user_x9/w"), 1, "--workspace")
    project_id = create(run, "api")
    assert_clean_error(run("workspace", "push", project_id, "~no_such_user_x9/src"), 1, "directory to push")
    assert_clean_error(run("workspace", "pull", project_id, "~no_such_user_x9/dst"), 1, "directory to pull")


def test_a_swap_journal_with_an_enormous_or_foreign_pid_is_not_waited_for(run, docker, oubliette_home):
    project_id = started(run, "web")
    journal = oubliette_home / "data/projects" / project_id / ".swap"
    for calls in ([[1180591620717411303424, None]], [[1, None]], [[1, "1", "init"]], "x", [[None]]):
        journal.write_text(json.dumps({"pid": 1, "calls": calls}))
        started_at = time.monotonic()
        result = run("container", "start", project_id)
        assert result.exit_code == 0, result.output
        assert "Waiting for the engine calls" not in result.stderr and time.monotonic() - started_at < 10
        assert not journal.exists()


@pytest.fixture
def bounded():
    """A test about files that used to block forever fails instead of hanging the suite."""
    def expired(signum, frame):
        raise TimeoutError("blocked on a home file")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
def test_special_home_files_are_errors_or_warnings_never_a_block(run, docker, oubliette_home, bounded, kind):
    project_id = started(run, "web")
    project_dir = oubliette_home / "data/projects" / project_id

    def plant(path: Path) -> None:
        path.unlink(missing_ok=True)
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "zero":
            path.symlink_to("/dev/zero")
        else:
            path.write_bytes(b" " * (8 * 1024 * 1024))

    session = project_dir / "sessions" / "sess_0badf00d.json"
    session.parent.mkdir(exist_ok=True)
    plant(session)
    result = run("session", "list")
    assert result.exit_code == 0 and "sess_0badf00d.json is damaged" in result.stderr
    session.unlink()

    plant(project_dir / ".swap")
    assert run("container", "start", project_id).exit_code == 0
    assert not (project_dir / ".swap").exists()

    plant(project_dir / "metadata.json")
    result = run("project", "list")
    assert result.exit_code == 0, result.output
    (project_dir / "metadata.json").unlink()

    config = oubliette_home / "config" / "oubliette.jsonc"
    plant(config)
    assert_clean_error(run("project", "options"), 1, str(config))
    config.unlink()

    home_id = oubliette_home / "data" / "home.id"
    plant(home_id)
    assert_clean_error(run("container", "list"), 1, str(home_id))


# --- 11: messages that say what happened ---------------------------------------------------------


@pytest.mark.parametrize("odd", ['quote"d', "new\nline", "com,ma"])
def test_a_home_path_the_engine_cannot_take_is_refused_before_it_sees_it(run, docker, tmp_path, odd):
    home = tmp_path / odd
    write_config(home, {"containers": {"dev": "registry.example/oubliette-dev:latest"}})
    project_id = run("--home", str(home), "project", "create", "web").stdout.strip()
    result = run("--home", str(home), "container", "start", project_id)
    assert_clean_error(result, 1, "cannot mount")
    assert docker.calls("run") == []


def test_a_read_only_home_is_not_reported_as_a_deleted_project(run, docker, monkeypatch):
    from oubliette.store.files import FileLock

    project_id = started(run, "web")

    def no_lock_file(self):
        raise FileNotFoundError(errno.ENOENT, "No such file", str(self.path))  # as on a read-only home

    monkeypatch.setattr(FileLock, "__enter__", no_lock_file)
    result = run("container", "stop", project_id)
    assert_clean_error(result, 1, "read-only")
    assert "was deleted" not in result.stderr


def test_doctor_fails_on_an_engine_whose_output_it_cannot_read(run, docker, monkeypatch):
    monkeypatch.setattr(docker, "_ps", lambda args: (0, "\x8f\x01garbage{{\n", ""))
    result = run("doctor")
    assert result.exit_code == 3, result.output
    assert "cannot read" in result.stdout + result.stderr


def test_an_enormous_invalid_name_is_not_echoed_whole(run, docker):
    result = run("project", "create", "\x07" * 10_000_000)
    assert result.exit_code == 1 and len(result.stderr) < 5000 and "characters in all" in result.stderr
