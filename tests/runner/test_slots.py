"""Where trials train: slots per core or per GPU, packs sized from free GPU memory, CUDA_VISIBLE_DEVICES respected."""

from __future__ import annotations

import sys
import types

import pytest

from edgeopt.errors import EdgeoptError
from edgeopt.runner.slots import (CPU_PACK, GPU_SLOTS, GpuInfo, Slot, parse_gpus, parse_workers, plan_slots,
                                  visible_gpus)

GIB = 1 << 30
TWO_GPUS = [GpuInfo(0, "H100", 70 * GIB, 80 * GIB), GpuInfo(1, "H100", 20 * GIB, 80 * GIB)]


def test_a_cpu_only_machine_gets_one_slot_per_core():
    slots = plan_slots(None, None, None, None, cpu_count=6, gpu_info=[], families=("mlp",))
    assert [(s.index, s.device, s.max_pack, s.memory_bytes) for s in slots] == \
        [(i, "cpu", CPU_PACK["mlp"], None) for i in range(6)]
    slots = plan_slots(None, None, None, None, cpu_count=2, gpu_info=[], families=("cnn1d",))
    assert {s.max_pack for s in slots} == {1}
    assert [s.device for s in plan_slots("cpu", 3, None, 1, cpu_count=6, gpu_info=TWO_GPUS)] == ["cpu"] * 3


def test_gpus_get_several_slots_each_and_packs_sized_from_their_free_memory():
    slots = plan_slots(None, None, None, None, cpu_count=8, gpu_info=TWO_GPUS)  # 4 cores a GPU: 4 slots each
    assert [s.device for s in slots] == ["cuda:0"] * GPU_SLOTS + ["cuda:1"] * GPU_SLOTS
    first, last = slots[0], slots[-1]
    assert first.memory_bytes == int(70 * GIB * 0.6) // GPU_SLOTS
    assert first.pack_size(100 * (1 << 20)) == min(first.max_pack, first.memory_bytes // (100 * (1 << 20)))
    assert last.pack_size(100 * (1 << 20)) < first.pack_size(100 * (1 << 20))  # less free memory, smaller packs
    assert last.pack_size(10**15) == 1  # a trial larger than the share still trains, alone
    assert len(plan_slots(None, None, None, None, cpu_count=64, gpu_info=TWO_GPUS)) == 16  # at most 8 a GPU


def test_gpus_and_workers_choose_devices_and_counts():
    assert {s.device for s in plan_slots(None, None, (1,), None, gpu_info=TWO_GPUS)} == {"cuda:1"}
    assert [s.device for s in plan_slots(None, 3, None, 8, gpu_info=TWO_GPUS)] == ["cuda:0", "cuda:0", "cuda:1"]
    assert all(s.max_pack == 8 for s in plan_slots(None, 3, None, 8, gpu_info=TWO_GPUS))
    assert {s.device for s in plan_slots("cuda:1", None, None, None, gpu_info=TWO_GPUS)} == {"cuda:1"}
    assert {s.device for s in plan_slots(None, None, (), None, cpu_count=2, gpu_info=TWO_GPUS)} == {"cpu"}
    with pytest.raises(EdgeoptError, match="GPU 2 is not visible .2 visible: 0..1"):
        plan_slots(None, None, (0, 2), None, gpu_info=TWO_GPUS)


def test_no_gpu_falls_back_to_the_cpu_without_an_error():
    assert visible_gpus() == [] or all(isinstance(g, GpuInfo) for g in visible_gpus())
    assert {s.device for s in plan_slots(None, None, None, None, cpu_count=2, gpu_info=[])} == {"cpu"}


def test_flags_are_parsed_or_refused_with_what_is_allowed():
    assert parse_gpus("all") is None and parse_gpus("none") == () and parse_gpus("0,2") == (0, 2)
    assert parse_workers("auto") is None and parse_workers("4") == 4
    for bad in ("x", "0,0", "-1", "1,,2"):
        with pytest.raises(EdgeoptError, match="--gpus"):
            parse_gpus(bad)
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(EdgeoptError, match="--workers .* give auto or a count from 1"):
            parse_workers(bad)


class _Memory:
    def __init__(self, free):
        self.free, self.total = free, 80 * GIB


def _fake_nvml(monkeypatch, uuids):
    nvml = types.ModuleType("pynvml")
    nvml.NVMLError = type("NVMLError", (Exception,), {})
    nvml.nvmlInit = lambda: None
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetCount = lambda: len(uuids)
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i

    def by_uuid(uuid):
        if uuid not in uuids:
            raise nvml.NVMLError(uuid)
        return uuids.index(uuid)

    nvml.nvmlDeviceGetHandleByUUID = by_uuid
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: _Memory((handle + 1) * GIB)
    nvml.nvmlDeviceGetName = lambda handle: f"GPU{handle}".encode()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)


@pytest.mark.parametrize("visible, expected", [
    (None, ["GPU0", "GPU1", "GPU2", "GPU3"]),
    ("2,0", ["GPU2", "GPU0"]),
    ("GPU-c,1", ["GPU2", "GPU1"]),
    ("1,7,2", ["GPU1"]),  # CUDA stops at the first invalid entry
    ("", []),
])
def test_cuda_visible_devices_is_read_as_cuda_reads_it(monkeypatch, visible, expected):
    _fake_nvml(monkeypatch, ["GPU-a", "GPU-b", "GPU-c", "GPU-d"])
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    gpus = visible_gpus()
    assert [g.name for g in gpus] == expected and [g.index for g in gpus] == list(range(len(expected)))
    assert all(g.free_bytes == (int(g.name[3:]) + 1) * GIB for g in gpus)


def test_a_slot_without_a_memory_limit_packs_its_maximum():
    assert Slot(0, "cpu", 16).pack_size(10**12) == 16


def test_a_cpu_packs_only_enough_small_models_and_a_gpu_any_two():
    cpu, gpu = Slot(0, "cpu", 32), Slot(1, "cuda:0", 512, 10 * GIB)
    assert cpu.worth_packing([4000] * 4) and not cpu.worth_packing([4000] * 3)
    assert not cpu.worth_packing([4000, 4000, 4000, 60_000]) and not cpu.worth_packing([4000])
    assert gpu.worth_packing([4000, 60_000]) and not gpu.worth_packing([60_000])
