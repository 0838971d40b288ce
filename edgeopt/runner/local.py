"""Backends run `Work` on slots and hand back outcomes; the coordinator is their one consumer.

`InlineBackend`: one slot, the coordinator's own process (no start-up cost; what `--workers 1` uses).
`ProcessBackend`: one spawned process per slot, its data on its device once; a worker that dies (kill -9, a crash, the
OOM killer) is replaced and its work comes back as `worker_lost` failures, for the coordinator to retry.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import wait

from edgeopt.errors import EdgeoptError
from edgeopt.runner.slots import Slot
from edgeopt.runner.work import Failure, Work, WorkerSetup, WorkerState


class InlineBackend:
    def __init__(self, slots: list[Slot], setup: WorkerSetup):
        if len(slots) != 1:
            raise ValueError("the inline backend has exactly one slot")
        self.slots = slots
        self.state = WorkerState(setup, slots[0].device)
        self.pending: Work | None = None

    def submit(self, slot: int, work: Work) -> None:
        self.pending = work

    def poll(self, timeout: float) -> list[tuple[int, list]]:
        if self.pending is None:
            return []
        work, self.pending = self.pending, None
        return [(0, self.state.run(work))]

    def close(self) -> None:
        self.pending = None


def _worker_main(conn, device: str) -> None:
    """A worker process: torch loaded at once (while the coordinator still prepares the data and costs its first
    draws), then its setup from the pipe, data on its device once, then packs until told to stop (None) or the
    coordinator is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    _die_with_parent()
    import torch  # noqa: F401  (the ~2 s import overlaps the coordinator's start rather than following it)

    try:
        setup = conn.recv()
    except (EOFError, OSError):
        return
    if setup is None:
        return
    try:
        state = WorkerState(setup, device)
    except Exception as exc:
        conn.send(("setup_failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            work = conn.recv()
        except (EOFError, OSError):
            return
        if work is None:
            return
        try:
            conn.send(("done", state.run(work)))
        except (BrokenPipeError, OSError):
            return


def _die_with_parent() -> None:
    """On Linux, the kernel kills this worker when the coordinator dies (no stray process writes a checkpoint after
    the search was resumed elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Worker:
    def __init__(self, context, slot: Slot, setup: WorkerSetup | None):
        self.slot = slot
        parent, child = context.Pipe()
        self.conn = parent
        self.process = context.Process(target=_worker_main, args=(child, slot.device), daemon=True,
                                       name=f"edgeopt-worker-{slot.index}")
        self.process.start()
        child.close()
        self.ready = False
        self.work: Work | None = None
        if setup is not None:
            self.begin(setup)

    def begin(self, setup: WorkerSetup) -> None:
        try:
            self.conn.send(setup)
        except (BrokenPipeError, OSError):
            pass  # its death shows in poll


class ProcessBackend:
    """Worker processes, one per slot. Made without a `setup`, the processes start (and load torch) at once and wait
    for `begin(setup)`: the coordinator starts them before it loads and costs anything."""

    def __init__(self, slots: list[Slot], setup: WorkerSetup | None = None):
        self.slots = slots
        self.setup = setup
        self.context = multiprocessing.get_context("spawn")
        self.workers = {slot.index: _Worker(self.context, slot, setup) for slot in slots}
        self.lost: list[tuple[int, str]] = []

    def begin(self, setup: WorkerSetup) -> None:
        """Hand every started worker its setup (the data, the normalizer, ...)."""
        self.setup = setup
        for worker in self.workers.values():
            worker.begin(setup)

    def submit(self, slot: int, work: Work) -> None:
        worker = self.workers[slot]
        worker.work = work
        try:
            worker.conn.send(work)
        except (BrokenPipeError, OSError):
            pass  # its death shows in poll, which hands the work back as lost

    def poll(self, timeout: float) -> list[tuple[int, list]]:
        busy = [w for w in self.workers.values() if w.work is not None or not w.ready]
        if not busy:
            return []
        waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = wait(waitables, timeout)
        out = []
        for worker in busy:
            message = None
            if worker.conn in ready:
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):
                    message = None
            elif worker.process.sentinel not in ready:
                continue
            if message is None:  # the process is gone
                out.extend(self._replace(worker))
                continue
            kind, payload = message
            if kind == "setup_failed":
                raise EdgeoptError(f"worker {worker.slot.index} on {worker.slot.device} could not start: {payload}")
            if kind == "ready":
                worker.ready = True
                continue
            work, worker.work = worker.work, None
            out.append((worker.slot.index, payload if work is not None else []))
        return out

    def _replace(self, worker: _Worker) -> list[tuple[int, list]]:
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        work = worker.work
        self.workers[worker.slot.index] = _Worker(self.context, worker.slot, self.setup)
        if work is None:
            if not worker.ready:
                raise EdgeoptError(f"worker {worker.slot.index} on {worker.slot.device} died while starting ({how})")
            return []
        failure = Failure("worker_lost", f"worker {worker.process.pid} on {worker.slot.device} died ({how})")
        return [(worker.slot.index, [failure] * len(work.specs))]

    def close(self) -> None:
        for worker in self.workers.values():
            if self.setup is None:  # never began (the coordinator stopped while starting): nothing to finish
                worker.process.kill()
                continue
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for worker in self.workers.values():
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=2)
            worker.conn.close()


__all__ = ["InlineBackend", "ProcessBackend"]
