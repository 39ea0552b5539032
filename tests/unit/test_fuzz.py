"""A seeded, bounded fuzz run over what a user, a home file or a client hands oubliette:
the config parser, names, home files, MCP messages and tar streams. Any exception other
than the one error family (or a format error, for tar) is a finding; so is a hang.

CI runs the default rounds (well under two minutes); a longer run on demand:
`OUBLIETTE_FUZZ_ROUNDS=20000 OUBLIETTE_FUZZ_SEED=7 python -m pytest tests/unit/test_fuzz.py`.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
import time
from pathlib import Path

import pytest

from oubliette.errors import OublietteError

ROUNDS = int(os.environ.get("OUBLIETTE_FUZZ_ROUNDS", "1500"))
SEED = int(os.environ.get("OUBLIETTE_FUZZ_SEED", "20261203"))
SECONDS_PER_CASE = 5.0  # a hang in the making (a quadratic parser took minutes), not a speed target
ALPHABET = '{}[]",:/*\\\n\t 01aZé\x00\u202e-._@' + "\x7f"
SEEDS = [
    '{"containers": {"dev": "a/b:1"}, "defaults": {"container": {"type": "dev"}}, "runtime": "auto"}',
    '// c\n{"containers": {"x": "host:5000/r/p@sha256:' + "a" * 64 + '",}, /* b */}',
    '{"engines": {"box": {"runtime": "docker", "host": "ssh://me@box"}}}',
]


def mutate(rng: random.Random, text: str) -> str:
    """Insert, delete, repeat or splice pieces of `text`."""
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(text))
        choice = rng.random()
        if choice < 0.35:
            text = text[:at] + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))) + text[at:]
        elif choice < 0.6:
            text = text[:at] + text[at + rng.randint(1, 10):]
        elif choice < 0.8:
            piece = text[at:at + rng.randint(1, 6)]
            text = text[:at] + piece * rng.randint(2, 2000) + text[at:]
        else:
            text = text[:at] + rng.choice(SEEDS) + text[at:]
    return text


def timed(check, value) -> None:
    started = time.monotonic()
    check(value)
    assert time.monotonic() - started < SECONDS_PER_CASE, f"slow on {value[:200]!r}"


def test_fuzz_config_parser():
    from oubliette.store.config import parse_config

    rng = random.Random(SEED)

    def check(text: str) -> None:
        try:
            parse_config(text, Path("fuzz.jsonc"))
        except OublietteError:
            pass

    for _ in range(ROUNDS):
        timed(check, mutate(rng, rng.choice(SEEDS)))


def test_fuzz_names_and_references():
    from oubliette import validate

    rng = random.Random(SEED + 1)
    checks = [validate.project_name_problem, validate.image_reference_problem, validate.is_valid_type_name]
    for _ in range(ROUNDS * 5):
        text = mutate(rng, rng.choice(["web", "a/b:1", "proj_0123abcd", "dev"]))
        for check in checks:
            check(text)
        try:
            validate.check_argv_safe(text, "value")
            validate.check_image_reference(text)
        except OublietteError:
            pass


def test_fuzz_mcp_messages():
    from oubliette.mcp.stdio import error_reply

    rng = random.Random(SEED + 2)
    seeds = ['{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "exec", "arguments": {}}}',
             '{"jsonrpc": "2.0", "method": "notifications/initialized"}', '{"jsonrpc": "2.0", "id": "a", "result": {}}']
    for _ in range(ROUNDS * 3):
        line = mutate(rng, rng.choice(seeds))
        started = time.monotonic()
        reply = error_reply(line)
        assert time.monotonic() - started < SECONDS_PER_CASE
        if reply is not None:
            answer = json.loads(reply)
            assert answer["error"]["code"] in (-32700, -32600) and answer["jsonrpc"] == "2.0"


def test_fuzz_home_files(run, docker, oubliette_home):
    """Damaged metadata, session records, swap journals and home ids: commands on the home
    give a listing with warnings or one clean error, never a traceback."""
    from tests.unit.helpers import started

    rng = random.Random(SEED + 3)
    project_id = started(run, "web")
    project_dir = oubliette_home / "data/projects" / project_id
    metadata = (project_dir / "metadata.json").read_text()
    record = json.dumps({"id": "sess_0badf00d", "project_id": project_id, "pid": os.getpid(),
                         "pid_started": "1", "command": ["sh"], "started_at": "2026", "client": "cli"})
    targets = [(project_dir / "metadata.json", metadata), (project_dir / "sessions" / "sess_0badf00d.json", record),
               (project_dir / ".swap", '{"pid": 1, "calls": [[2, "3", "docker"]]}'),
               (oubliette_home / "data" / "home.id", "0123456789abcdef\n")]
    (project_dir / "sessions").mkdir(exist_ok=True)
    commands = [("project", "list"), ("session", "list"), ("container", "list"), ("project", "show", project_id)]
    for _ in range(max(ROUNDS // 8, 20)):
        path, original = rng.choice(targets)
        path.write_text(mutate(rng, original), encoding="utf-8", errors="surrogatepass") if rng.random() < 0.8 \
            else path.write_bytes(os.urandom(rng.randint(0, 300)))
        result = run(*rng.choice(commands))
        assert "Traceback" not in result.output and result.exit_code in (0, 1, 3), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        path.write_text(original)


@pytest.mark.parametrize("seed_offset", range(4))
def test_fuzz_tar_streams(tmp_path, seed_offset):
    """Corrupted archives: extraction finishes or fails with a format error, and writes only in DEST."""
    from oubliette.ops import untar

    rng = random.Random(SEED + 10 + seed_offset)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=rng.choice([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])) as tar:
        for name in ("a", "dir/b" * rng.randint(1, 40), "c"):
            data = os.urandom(rng.randint(0, 3000))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    pristine = buffer.getvalue()
    outside = tmp_path / "outside"
    outside.mkdir()
    for round_ in range(max(ROUNDS // 8, 25)):
        stream = bytearray(pristine)
        for _ in range(rng.randint(1, 12)):
            stream[rng.randrange(len(stream))] = rng.randrange(256)
        dest = tmp_path / f"d{round_}"
        dest.mkdir()
        (dest / "link").symlink_to(outside)
        try:
            untar.extract(io.BytesIO(bytes(stream)), str(dest))
        except (untar.TarFormatError, OSError):
            pass
        assert list(outside.iterdir()) == []
