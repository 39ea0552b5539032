"""Apple's `container` CLI, faked: the script `container` beside this file replays both
JSON generations of the real CLI, keeping its state in a JSON file; `AppleEngine` reads
and changes that state for the tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEV = "registry.example/oubliette-dev:latest"
BASE = "registry.example/oubliette-base:latest"
DIGEST = {n: f"sha256:{n * 64}" for n in "0123456789abcdef"}

FAKE = Path(__file__).parent / "container"
DEV = "registry.example/oubliette-dev:latest"
BASE = "registry.example/oubliette-base:latest"
DIGEST = {n: f"sha256:{n * 64}" for n in "0123456789abcdef"}


class AppleEngine:
    def __init__(self, state: Path) -> None:
        self.path = state

    @property
    def state(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def update(self, **changes) -> None:
        state = self.state
        for key, value in changes.items():
            if isinstance(value, dict):
                state.setdefault(key, {}).update(value)
            else:
                state[key] = value
        self.path.write_text(json.dumps(state))

    def containers(self) -> dict:
        return self.state.get("containers", {})

    def calls(self, command: str) -> list[list[str]]:
        return [c for c in self.state.get("calls", []) if c[:len(command.split())] == command.split()]


def install_fake(directory: Path) -> Path:
    """The fake, started by this very interpreter (a PATH `python3` may be a slow shim)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "container"
    source = FAKE.read_text().split("\n", 1)[1]
    target.write_text(f"#!{sys.executable}\n{source}")
    target.chmod(0o755)
    return target
