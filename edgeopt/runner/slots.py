"""Slots: where trials train. One slot is one worker process (or Ray actor) on one device, training one pack at a
time. A CPU-only machine gets one slot per core (one thread each: tiny models train fastest on one); a GPU gets
several slots, so one slot's Python and data loading overlap another's kernels, and each slot's packs are sized from
the GPU's free memory (nvidia-ml-py) and the trials' estimated training memory."""

from __future__ import annotations

import os
from dataclasses import dataclass

from edgeopt.errors import EdgeoptError

# Trials per pack on one CPU thread, per family (BENCHMARKS.md: runner): ~4k-parameter MLPs train 4.3x faster 32 to
# a pack than one by one; convolutions batched over trials (grouped convolutions under vmap) run slower than one by
# one on a CPU, so they are not packed there.
CPU_PACK = {"mlp": 32}
# On one CPU thread a pack pays only for small models and enough of them: ~4k-parameter MLPs 32 to a pack train 1.95x
# faster than one by one, while packs of 2-3 mixed trials (0.74x) or of MLPs up to 66k parameters (1.10x) lose to
# the two worker processes training them one by one.
CPU_MIN_PACK = 4


def cpu_pack(families: tuple[str, ...]) -> int:
    """Most trials per pack on a CPU slot for a search over `families` (packs hold one family each)."""
    return max(CPU_PACK.get(family, 1) for family in families)
CPU_PACK_MAX_PARAMS = 16_000
# Worker processes per GPU: a pack's per-trial work (building models, checkpoints, metrics) runs on the CPU, so more
# slots keep a GPU busier, up to the cores there are (BENCHMARKS.md: runner).
GPU_SLOTS = 4
GPU_MAX_SLOTS = 8
GPU_MAX_PACK = 512
GPU_MEMORY_SHARE = 0.6  # of a GPU's free memory that its packs may plan to use, all slots together


@dataclass(frozen=True)
class Slot:
    index: int
    device: str  # "cpu" or "cuda:N" (N as torch numbers the visible devices)
    max_pack: int  # most trials one pack may hold here
    memory_bytes: int | None = None  # what one pack may use on a GPU (None: not limited here)

    def worth_packing(self, params: list[int]) -> bool:
        """Whether trials of these parameter counts train faster as one pack here than one by one."""
        if len(params) < 2:
            return False
        if self.device == "cpu":
            return len(params) >= CPU_MIN_PACK and max(params) <= CPU_PACK_MAX_PARAMS
        return True

    def pack_size(self, trial_bytes: int) -> int:
        """Trials of `trial_bytes` training memory each that one pack may hold on this slot."""
        if self.memory_bytes is None:
            return self.max_pack
        return max(1, min(self.max_pack, self.memory_bytes // max(trial_bytes, 1)))


@dataclass(frozen=True)
class GpuInfo:
    index: int  # as torch numbers it (after CUDA_VISIBLE_DEVICES)
    name: str
    free_bytes: int
    total_bytes: int


def visible_gpus() -> list[GpuInfo]:
    """The GPUs this process may use, in torch's numbering, with free memory from NVML; [] without a GPU or NVML.

    CUDA_VISIBLE_DEVICES is read as CUDA reads it (indices or UUIDs, in that order, up to the first invalid entry);
    an empty value hides every GPU."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            chosen = []
            for entry in (e.strip() for e in visible.split(",")):
                if entry.isdigit() and int(entry) < count:
                    chosen.append(handles[int(entry)])
                elif entry.startswith("GPU-") or entry.startswith("MIG-"):
                    try:
                        chosen.append(pynvml.nvmlDeviceGetHandleByUUID(entry))
                    except pynvml.NVMLError:
                        break
                else:
                    break
            handles = chosen
        out = []
        for i, handle in enumerate(handles):
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            out.append(GpuInfo(i, name.decode() if isinstance(name, bytes) else str(name), int(memory.free),
                               int(memory.total)))
        return out
    except pynvml.NVMLError:
        return []
    finally:
        pynvml.nvmlShutdown()


def slots_per_gpu(cores: int, gpus: int) -> int:
    """Worker slots a GPU gets by default: the cores shared among the GPUs, from GPU_SLOTS to GPU_MAX_SLOTS."""
    return max(GPU_SLOTS, min(GPU_MAX_SLOTS, cores // max(gpus, 1)))


def parse_gpus(text: str | None) -> tuple[int, ...] | None:
    """`--gpus`: "all" (None), "none" or "" (no GPU), or visible indices "0,2"."""
    if text is None or text.strip() == "all":
        return None
    if text.strip() in ("", "none"):
        return ()
    try:
        indices = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise EdgeoptError(f"--gpus {text!r}: give all, none, or GPU indices such as 0,2") from None
    if any(i < 0 for i in indices) or len(set(indices)) != len(indices):
        raise EdgeoptError(f"--gpus {text!r}: indices are distinct numbers from 0")
    return indices


def parse_workers(text: str | None) -> int | None:
    """`--workers`: "auto" (None) or a count from 1."""
    if text is None or text.strip() == "auto":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise EdgeoptError(f"--workers {text!r}: give auto or a count from 1")
    return int(text)


def plan_slots(device: str | None, workers: int | None, gpus: tuple[int, ...] | None, pack: int | None,
               cpu_count: int | None = None, gpu_info: list[GpuInfo] | None = None,
               families: tuple[str, ...] = ("mlp",)) -> list[Slot]:
    """The slots of a search. `device` cpu keeps to the CPU; cuda:N picks one GPU; auto (None) uses `gpus` (None:
    every visible GPU) and falls back to the CPU without one. `workers`: slots in all (None: auto). `pack`: most
    trials per pack (None: auto, by the search's `families` on a CPU; 1: no packing)."""
    cores = cpu_count or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if device == "cpu":
        found: list[GpuInfo] = []
    else:
        found = visible_gpus() if gpu_info is None else gpu_info
        if device not in (None, "auto"):
            _, _, index = device.partition(":")
            gpus = (int(index),) if index else None
        if gpus is not None:
            missing = [i for i in gpus if i >= len(found)]
            if missing:
                raise EdgeoptError(f"--gpus: GPU {missing[0]} is not visible ({len(found)} visible"
                                   f"{'' if not found else f': 0..{len(found) - 1}'}; CUDA_VISIBLE_DEVICES is "
                                   f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
            found = [found[i] for i in gpus]
    if not found:
        count = workers or cores
        return [Slot(i, "cpu", pack or cpu_pack(families)) for i in range(count)]
    per_gpu = max(1, -(-(workers or slots_per_gpu(cores, len(found)) * len(found)) // len(found)))
    slots = []
    for gpu in found:
        share = int(gpu.free_bytes * GPU_MEMORY_SHARE) // per_gpu
        for _ in range(per_gpu):
            if workers is not None and len(slots) >= workers:
                break
            slots.append(Slot(len(slots), f"cuda:{gpu.index}", pack or GPU_MAX_PACK, share))
    return slots


__all__ = ["CPU_PACK", "GpuInfo", "Slot", "cpu_pack", "parse_gpus", "parse_workers", "plan_slots", "slots_per_gpu",
           "visible_gpus"]
