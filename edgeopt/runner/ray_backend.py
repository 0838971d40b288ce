"""The Ray backend: the same workers as Ray actors, one per slot, on one machine or a cluster.

Each actor holds its data on its device once (`WorkerState`), as a local worker process does; a GPU slot is an actor
with a fractional GPU (Ray sets its CUDA_VISIBLE_DEVICES). The coordinator stays the one writer of the study store,
so the store only has to be reachable from the machine that runs `edgeopt search`; trial checkpoints are files
under the run folder, which on a cluster must be a shared filesystem mounted at the same path on every node
(docs/runner.md). An actor that dies comes back as `worker_lost` failures and is replaced.
"""

from __future__ import annotations

from edgeopt.errors import EdgeoptError
from edgeopt.runner.slots import GPU_MAX_PACK, Slot, cpu_pack, slots_per_gpu
from edgeopt.runner.work import Failure, Work, WorkerSetup, WorkerState


def require_ray():
    """Ray, or one error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EdgeoptError("--backend ray needs Ray: pip install 'edgeopt[ray]'") from None
    return ray


class _Actor:
    """Ray actor body: a WorkerState on the actor's device."""

    def __init__(self, setup: WorkerSetup, device: str):
        self.state = WorkerState(setup, device)

    def run(self, work: Work) -> list:
        return self.state.run(work)


def ray_slots(ray, workers: int | None, pack: int | None, use_gpus: bool,
              families: tuple[str, ...] = ("mlp",)) -> list[Slot]:
    """Slots over the cluster's resources: one per CPU without GPUs; else as many per GPU as a local search would
    give it (the cluster's CPUs shared among its GPUs), each with that share of a GPU. `workers` caps the count."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if use_gpus else 0
    if gpus == 0:
        count = workers or max(1, int(resources.get("CPU", 1)))
        return [Slot(i, "cpu", pack or cpu_pack(families)) for i in range(count)]
    count = workers or slots_per_gpu(int(resources.get("CPU", 1)), gpus) * gpus
    return [Slot(i, "cuda", pack or GPU_MAX_PACK) for i in range(count)]


class RayBackend:
    def __init__(self, slots: list[Slot], setup: WorkerSetup, address: str | None, workers: int | None = None,
                 pack: int | None = None, families: tuple[str, ...] = ("mlp",)):
        ray = self.ray = require_ray()
        self.started = not ray.is_initialized()
        if self.started:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except Exception as exc:  # no cluster at that address, a version mismatch
                raise EdgeoptError(f"--backend ray: cannot reach Ray at {address or 'a new local instance'}: "
                                   f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        use_gpus = any(slot.device != "cpu" for slot in slots)
        self.slots = ray_slots(ray, workers, pack, use_gpus, families)
        gpu_share = 0.0
        if use_gpus:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            gpu_share = gpus / len(self.slots) if gpus else 0.0
        self.setup_ref = ray.put(setup)
        self.remote = ray.remote(_Actor)
        self.gpu_share = gpu_share
        self.actors = {slot.index: self._start(slot) for slot in self.slots}
        self.pending: dict = {}  # object ref -> (slot index, work)

    def _start(self, slot: Slot):
        options = {"num_cpus": 1, "max_restarts": 0}
        if slot.device != "cpu":
            options["num_gpus"] = min(1.0, self.gpu_share)
        return self.remote.options(**options).remote(self.setup_ref, "cuda:0" if slot.device != "cpu" else "cpu")

    def submit(self, slot: int, work: Work) -> None:
        self.pending[self.actors[slot].run.remote(work)] = (slot, work)

    def poll(self, timeout: float) -> list[tuple[int, list]]:
        if not self.pending:
            return []
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            slot, work = self.pending.pop(ref)
            try:
                out.append((slot, self.ray.get(ref)))
            except self.ray.exceptions.RayActorError as exc:
                self.actors[slot] = self._start(self.slots[slot])
                message = f"Ray actor of slot {slot} died: {str(exc).splitlines()[0][:200]}"
                out.append((slot, [Failure("worker_lost", message)] * len(work.specs)))
            except self.ray.exceptions.RayError as exc:
                out.append((slot, [Failure("error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")]
                            * len(work.specs)))
        return out

    def close(self) -> None:
        for actor in self.actors.values():
            try:
                self.ray.kill(actor)
            except Exception:  # already gone
                pass
        if self.started:
            self.ray.shutdown()


__all__ = ["RayBackend", "ray_slots"]
