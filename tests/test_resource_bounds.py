"""Resource bounds: the weights are checked against free memory before loading, with a clear message."""
from __future__ import annotations

import pytest
import torch

import model.engines as engines
import model.memory as memory
from model.config import EngineConfig
from model.engines import load_engine
from model.loading import load_model
from model.memory import ModelDoesNotFitError, check_model_fits, parameter_count, weight_bytes
from tests.tiny_checkpoint import build_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny"))


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
    # Split over 4 GPUs, each holds a quarter.
    check_model_fits(checkpoint, torch.device("cpu"), torch.float32, shards=4, available=int(needed / 4) + 1)


def test_the_engine_checks_before_it_loads_any_weight(checkpoint, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1024)
    monkeypatch.setattr(engines, "load_model", lambda *a, **k: pytest.fail("weights loaded before the check"))
    with pytest.raises(ModelDoesNotFitError, match="--dtype float16"):
        load_engine(checkpoint, EngineConfig(device="cpu"))


def test_this_machine_reports_positive_free_memory():
    assert memory.available_bytes(torch.device("cpu")) > 0
