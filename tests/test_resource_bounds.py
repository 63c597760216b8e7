"""Resource bounds: the weights are checked against free memory before loading, with a clear message."""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
import torch

import model.engines as engines
import model.memory as memory
from model.config import EngineConfig
from model.engines import load_engine
from model.loading import load_model
from model.memory import ModelDoesNotFitError, check_model_fits, parameter_count, weight_bytes
from pipeline.options import BackstampOptions

GIB = 2**30


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> str:
    return str(tiny_checkpoint)


def test_the_estimate_counts_every_parameter_without_loading_weights(checkpoint):
    loaded = load_model(checkpoint)
    assert parameter_count(checkpoint) == sum(t.numel() for t in loaded.state_dict().values()
                                              if t.dtype.is_floating_point)
    assert weight_bytes(checkpoint, torch.float32) == 2 * weight_bytes(checkpoint, torch.float16)


def test_a_model_that_cannot_fit_is_refused_with_the_figures(checkpoint):
    needed = weight_bytes(checkpoint, torch.float32) * memory.HEADROOM
    with pytest.raises(ModelDoesNotFitError, match=r"needs about 0\.\d+ GiB as float32 on cpu, but only 0\.00 GiB"):
        check_model_fits(checkpoint, torch.device("cpu"), torch.float32, available=int(needed) - 1)
    check_model_fits(checkpoint, torch.device("cpu"), torch.float32, available=int(needed) + 1)


def test_the_whole_model_is_counted_on_one_device():
    """No option divides the estimate: --tensor_parallel could not split a model (one process per worker
    model, no process group) yet divided the check's figure; it is gone."""
    assert "tensor_parallel" not in BackstampOptions([]).get_all_options()
    assert "shards" not in inspect.signature(check_model_fits).parameters


def test_the_engine_checks_before_it_loads_any_weight(checkpoint, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1024)
    monkeypatch.setattr(engines, "load_model", lambda *a, **k: pytest.fail("weights loaded before the check"))
    with pytest.raises(ModelDoesNotFitError, match="--dtype float16"):
        load_engine(checkpoint, EngineConfig(device="cpu"))


@pytest.mark.parametrize("limit, used, machine_free, expected", [
    ("max", "0", 8 * GIB, 8 * GIB),  # no container limit: the machine's available memory
    (str(4 * GIB), str(3 * GIB), 8 * GIB, 1 * GIB),  # the container's limit minus its use binds first
    (str(64 * GIB), str(1 * GIB), 8 * GIB, 8 * GIB),  # a generous limit: the machine binds
])
def test_cpu_free_memory_is_capped_by_the_cgroup_limit(limit, used, machine_free, expected, tmp_path, monkeypatch):
    (tmp_path / "memory.max").write_text(limit + "\n")
    (tmp_path / "memory.current").write_text(used + "\n")
    monkeypatch.setattr(memory, "_CGROUP_LIMIT", tmp_path / "memory.max")
    monkeypatch.setattr(memory, "_CGROUP_USED", tmp_path / "memory.current")
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: SimpleNamespace(available=machine_free))
    assert memory.available_bytes(torch.device("cpu")) == expected


def test_cpu_free_memory_without_cgroup_files_is_the_machines(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "_CGROUP_LIMIT", tmp_path / "absent")
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: SimpleNamespace(available=5 * GIB))
    assert memory.available_bytes(torch.device("cpu")) == 5 * GIB
