"""The look at a container just started, shared by the starts under way at once.

A start looks at its new container once, the engine's start window after `run` returned
(ops/swap.py says why). A refresh runs up to 16 swaps at once, and on two cores each
engine CLI call costs ~15 ms of CPU, so the looks that fall due together are one inspect
of all their names: the first to arrive waits out its window while others join, then
waits until the last joiner's window has passed too (at most one window more), and
looks for all of them. A look alone (a start) is the one inspect it always was.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime
    from oubliette.model import ContainerInfo


class _Batch:
    """One inspect's worth of looks: open to joiners until its first look falls due."""

    def __init__(self, due: float) -> None:
        self.opened_due = due  # joiners are taken until then
        self.due = due  # the inspect begins once every member's window has passed
        self.names: list[str] = []
        self.found: dict[str, ContainerInfo] = {}
        self.error: BaseException | None = None
        self.done = threading.Event()


class StartLooks:
    """Looks at just-started containers of one engine; a runtime and its journalled views
    share one, so the swaps of a refresh share their inspects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: _Batch | None = None

    def look(self, runtime: Runtime, name: str, window: float) -> ContainerInfo | None:
        """The container `name` as the engine sees it `window` seconds from now (None: gone)."""
        due = time.monotonic() + window
        with self._lock:
            batch = self._open
            leading = batch is None or time.monotonic() >= batch.opened_due
            if leading:
                batch = self._open = _Batch(due)
            assert batch is not None
            batch.names.append(name)
            batch.due = max(batch.due, due)
        if not leading:
            batch.done.wait()
        else:
            self._lead(runtime, batch, window)
        if batch.error is not None:
            raise batch.error
        return batch.found.get(name)

    def _lead(self, runtime: Runtime, batch: _Batch, window: float) -> None:
        """Wait out the leader's window, close the batch, wait for its last joiner's window,
        and make its one inspect."""
        try:
            if window > 0:
                time.sleep(window)
            with self._lock:
                if self._open is batch:
                    self._open = None  # later looks start a batch of their own
                names = list(batch.names)
            if (left := batch.due - time.monotonic()) > 0:
                time.sleep(left)
            if len(names) == 1:
                info = runtime.inspect(names[0])
                batch.found = {names[0]: info} if info is not None else {}
            else:
                batch.found = {info.name: info for info in runtime.inspect_many(names)}
        except BaseException as error:  # every member sees it: each of their starts failed alike
            batch.error = error
            raise
        finally:
            batch.done.set()
