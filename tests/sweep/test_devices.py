"""GPU placement of sweep runs, checked on CPU: which GPUs each local worker gets, what a
Ray task declares, and the torchrun command a multi-GPU run is launched with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalinglab.errors import ScalingLabError
from scalinglab.sweep.devices import (
    DevicePlan,
    parse_gpu_list,
    plan_devices,
    ray_slots,
    ray_task_options,
    visible_gpus,
)
from scalinglab.sweep.torchrun import torchrun_command


def test_gpu_list_parsing() -> None:
    assert parse_gpu_list("0,1, 2,3") == ["0", "1", "2", "3"]
    assert parse_gpu_list("GPU-a1,GPU-b2") == ["GPU-a1", "GPU-b2"]
    assert parse_gpu_list("none") == []
    with pytest.raises(ScalingLabError, match="twice"):
        parse_gpu_list("0,1,0")
    with pytest.raises(ScalingLabError, match="empty entry"):
        parse_gpu_list("0,,1")


def test_visible_gpus_default_order() -> None:
    """--gpus first, then CUDA_VISIBLE_DEVICES (up to its first invalid entry, as CUDA
    reads it), then torch's count."""
    four = lambda: 4  # noqa: E731
    assert visible_gpus("2,3", environ={"CUDA_VISIBLE_DEVICES": "0"}, count=four) == ["2", "3"]
    assert visible_gpus(None, environ={"CUDA_VISIBLE_DEVICES": "5,7"}, count=four) == ["5", "7"]
    assert visible_gpus(None, environ={"CUDA_VISIBLE_DEVICES": ""}, count=four) == []
    assert visible_gpus(None, environ={"CUDA_VISIBLE_DEVICES": "1,-1,2"}, count=four) == ["1"]
    assert visible_gpus(None, environ={}, count=four) == ["0", "1", "2", "3"]
    assert visible_gpus(None, environ={}, count=lambda: 0) == []


def test_visible_gpus_on_this_cpu_machine() -> None:
    import torch

    if "CUDA_VISIBLE_DEVICES" not in __import__("os").environ:
        assert len(visible_gpus()) == torch.cuda.device_count()


def test_one_gpu_per_worker_by_default() -> None:
    plan = plan_devices(["0", "1", "2", "3"], None, None)
    assert plan == DevicePlan(4, (("0",), ("1",), ("2",), ("3",)), 1)


def test_gpus_per_run_gives_disjoint_sets_and_leaves_the_rest_idle() -> None:
    assert plan_devices(list("0123"), 2, None) == DevicePlan(2, (("0", "1"), ("2", "3")), 2)
    assert plan_devices(list("01234"), 2, None).gpu_sets == (("0", "1"), ("2", "3"))
    assert plan_devices(list("0123"), 2, 1) == DevicePlan(1, (("0", "1"),), 2)
    assert plan_devices(list("0123"), 4, None) == DevicePlan(1, (("0", "1", "2", "3"),), 4)


def test_no_gpus_means_cpu_workers() -> None:
    assert plan_devices([], None, None) == DevicePlan(None, (), 1)
    assert plan_devices([], None, 3) == DevicePlan(3, (), 1)


def test_more_workers_than_gpus_share_them_round_robin_when_not_asked_for() -> None:
    plan = plan_devices(["0", "1"], None, 5)
    assert plan.gpu_sets == (("0",), ("1",), ("0",), ("1",), ("0",))


@pytest.mark.parametrize(
    ("gpus", "per_run", "workers", "message"),
    [
        (["0", "1"], 3, None, "exceeds the 2 GPU"),
        (list("0123"), 2, 3, "needs 6 GPUs, 4 visible"),
        ([], 1, None, "needs GPUs, but none is visible"),
        (["0"], 0, None, "at least 1"),
        (["0"], None, 0, "at least 1"),
    ],
)
def test_impossible_requests_are_errors(
    gpus: list[str], per_run: int | None, workers: int | None, message: str
) -> None:
    with pytest.raises(ScalingLabError, match=message):
        plan_devices(gpus, per_run, workers)


@given(
    n_gpus=st.integers(1, 16),
    per_run=st.integers(1, 16),
    workers=st.one_of(st.none(), st.integers(1, 16)),
)
def test_gpu_sets_are_disjoint_and_full(n_gpus: int, per_run: int, workers: int | None) -> None:
    gpus = [f"g{i}" for i in range(n_gpus)]
    fits = n_gpus // per_run
    if per_run > n_gpus or (workers is not None and workers > fits):
        with pytest.raises(ScalingLabError):
            plan_devices(gpus, per_run, workers)
        return
    plan = plan_devices(gpus, per_run, workers)
    assert plan.workers == (fits if workers is None else workers)
    assert len(plan.gpu_sets) == plan.workers
    assert all(len(s) == per_run for s in plan.gpu_sets)
    used = [g for s in plan.gpu_sets for g in s]
    assert len(used) == len(set(used))
    assert set(used) <= set(gpus)
    assert plan.ranks_per_run == per_run


def test_ray_task_options() -> None:
    assert ray_task_options(1.0, None, None) == {"num_cpus": 1.0, "num_gpus": 0.0, "max_retries": 0}
    assert ray_task_options(4.0, None, 2)["num_gpus"] == 2.0
    assert ray_task_options(1.0, 0.5, None)["num_gpus"] == 0.5
    assert ray_task_options(1.0, 4, 2)["num_gpus"] == 4.0
    with pytest.raises(ScalingLabError, match="fewer than the 2 GPUs"):
        ray_task_options(1.0, 1, 2)
    with pytest.raises(ScalingLabError, match="above 0"):
        ray_task_options(0.0, None, None)


def test_ray_slots_count_cpus_and_gpus() -> None:
    cluster = {"CPU": 32.0, "GPU": 8.0}
    assert ray_slots(cluster, ray_task_options(1.0, None, None)) == 32
    assert ray_slots(cluster, ray_task_options(1.0, None, 2)) == 4
    assert ray_slots(cluster, ray_task_options(8.0, None, 1)) == 4
    assert ray_slots({"CPU": 4.0}, ray_task_options(1.0, None, 1)) == 1


def test_torchrun_command() -> None:
    command = torchrun_command(4, Path("/t/task.json"), Path("/t/outcome.json"))
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[3:] == [
        "--standalone", "--nproc-per-node", "4", "-m", "scalinglab.sweep.torchrun",
        "/t/task.json", "/t/outcome.json",
    ]  # fmt: skip
