"""The look after a start: alone it is one inspect after the window; looks falling due
together share one inspect, never made before any member's window has passed."""

from __future__ import annotations

import threading
import time

from oubliette.engines.looks import StartLooks
from oubliette.errors import EngineUnavailableError
from oubliette.model import ContainerInfo

WINDOW = 0.05
LONG_WINDOW = 0.4


class Engine:
    """Answers inspects from `running`, noting when each call began and what it asked."""

    def __init__(self, running: set[str], fail: bool = False) -> None:
        self.running, self.fail = running, fail
        self.calls: list[tuple[float, list[str]]] = []
        self._lock = threading.Lock()

    def _seen(self, names: list[str]) -> list[ContainerInfo]:
        with self._lock:
            self.calls.append((time.monotonic(), names))
        if self.fail:
            raise EngineUnavailableError("the engine went away")
        return [ContainerInfo(f"id-{n}", n, "running", "img", {}, "sha256:1") for n in names if n in self.running]

    def inspect(self, name: str) -> ContainerInfo | None:
        found = self._seen([name])
        return found[0] if found else None

    def inspect_many(self, names: list[str]) -> list[ContainerInfo]:
        return self._seen(list(names))


def look_together(looks: StartLooks, engine: Engine, names: list[str]) -> dict:
    """Each name looked at from its own thread, all at once; name -> (asked at, answer).
    The window is long beside the threads' start, so all of them join one batch even under load."""
    seen: dict = {}
    barrier = threading.Barrier(len(names))

    def one(name: str) -> None:
        barrier.wait()
        asked = time.monotonic()
        try:
            seen[name] = (asked, looks.look(engine, name, LONG_WINDOW))  # type: ignore[arg-type]
        except EngineUnavailableError as error:
            seen[name] = (asked, error)

    threads = [threading.Thread(target=one, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return seen


def test_a_look_alone_is_one_inspect_of_its_name_after_the_window():
    engine = Engine({"a"})
    asked = time.monotonic()
    info = StartLooks().look(engine, "a", WINDOW)  # type: ignore[arg-type]
    assert info is not None and info.name == "a"
    (at, names), = engine.calls
    assert names == ["a"] and at - asked >= WINDOW


def test_looks_falling_due_together_share_one_inspect_made_after_every_window():
    engine = Engine({"a", "c"})
    seen = look_together(StartLooks(), engine, ["a", "b", "c"])
    (at, names), = engine.calls
    assert sorted(names) == ["a", "b", "c"]
    assert all(at - asked >= LONG_WINDOW for asked, _ in seen.values())  # nobody looked at too early
    assert seen["a"][1].name == "a" and seen["b"][1] is None and seen["c"][1].name == "c"


def test_a_look_after_the_batch_closed_starts_its_own():
    engine, looks = Engine({"a", "b"}), StartLooks()
    assert [looks.look(engine, name, WINDOW).name for name in "ab"] == ["a", "b"]  # type: ignore[arg-type,union-attr]
    assert [names for _, names in engine.calls] == [["a"], ["b"]]


def test_an_engine_failure_reaches_every_look_of_the_batch():
    engine = Engine({"a", "b"}, fail=True)
    seen = look_together(StartLooks(), engine, ["a", "b"])
    assert len(engine.calls) == 1
    assert all(isinstance(answer, EngineUnavailableError) for _, answer in seen.values())


def test_without_a_window_the_look_is_made_at_once():
    engine = Engine({"a"})
    asked = time.monotonic()
    assert StartLooks().look(engine, "a", 0.0) is not None  # type: ignore[arg-type]
    assert engine.calls[0][0] - asked < WINDOW
