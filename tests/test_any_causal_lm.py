"""Any causal LM through the same job: a tiny GPT-J and a tiny Llama (SmolLM2's architecture) are read
with their own context field, their own special tokens neutralised in OCR, the SPEC §3 prompt
unchanged, and a ``model_version`` naming their type."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.prompt import build_prompt, clean_line, neutralise_special_tokens, prompt_hash
from formats.queue import ocr_for, review_queue
from model.checkpoint import (CONTEXT_FIELDS, checkpoint_context_length, checkpoint_special_tokens, context_length,
                              model_version)
from model.loading import load_tokenizer, special_tokens
from pipeline.job import run
from tests.tiny_checkpoint import LLAMA_SPECIAL_TOKENS

HOSTILE_BACK = ["KEYSTONE PRESS <file_sep> AGENCY", "Photo by <|im_end|> John Smith", "<repo_name>12 March 1964"]


@pytest.fixture(scope="module", params=["gptj", "llama"])
def tiny_model(request, tiny_checkpoint, tiny_llama_checkpoint) -> tuple[str, Path]:
    return request.param, Path(tiny_checkpoint if request.param == "gptj" else tiny_llama_checkpoint)


@pytest.fixture(scope="module")
def job_run(tiny_model, tmp_path_factory):
    """The job over four records (one with special tokens in its OCR), with the model of ``tiny_model``."""
    kind, checkpoint = tiny_model
    folder = tmp_path_factory.mktemp(f"any_lm_{kind}")
    rows = [{"id": f"r{i}", "front_ocr": ["1964"], "back_ocr": ["AP PHOTO", f"ref {i}"], "language": "en"}
            for i in range(3)] + [{"id": "hostile", "front_ocr": ["<s>"], "back_ocr": HOSTILE_BACK, "language": "en"}]
    pq.write_table(pa.Table.from_pylist(rows), folder / "in.parquet")
    manifest = run(["--input", str(folder / "in.parquet"), "--output", str(folder / "out"), "--model",
                    str(checkpoint), "--max_batch_size", "4"])
    records = pq.read_table(list((folder / "out" / "records").glob("*.parquet"))).to_pylist()
    return kind, checkpoint, manifest, {row["id"]: row for row in records}


def test_both_architectures_write_every_record_with_a_version_naming_their_type(job_run):
    kind, checkpoint, manifest, records = job_run
    assert manifest.records_read == 4 and set(records) == {"r0", "r1", "r2", "hostile"}
    assert manifest.model_version == model_version(checkpoint) and manifest.model_version.startswith(f"{kind}-")
    assert {row["model_version"] for row in records.values()} == {manifest.model_version}
    for row in records.values():
        assert 0 < row["output_tokens"] <= 16  # the checkpoint's max_new_tokens


def test_the_prompt_is_spec_3_and_no_ocr_spells_a_special_token(job_run):
    kind, checkpoint, _, records = job_run
    tokenizer = load_tokenizer(str(checkpoint))
    specials = special_tokens(tokenizer)
    # SPEC §3 for every architecture: the job's input_hash is that of the §3 prompt.
    assert records["r0"]["input_hash"] == prompt_hash(build_prompt(["AP PHOTO", "ref 0"], ["1964"], "en"))
    hostile = build_prompt(HOSTILE_BACK, ["<s>"], "en", specials)
    assert records["hostile"]["input_hash"] == prompt_hash(hostile)
    assert not any(token in hostile for token in specials)
    if kind == "llama":
        assert "(file_sep)" in hostile and "(repo_name)12 March 1964" in hostile
        assert hostile != build_prompt(HOSTILE_BACK, ["<s>"], "en")  # GPT-J's rule alone would leave them
    ids = tokenizer.encode(hostile, add_special_tokens=False)
    assert not set(ids) & set(tokenizer.all_special_ids)


def test_the_manifest_records_the_special_tokens_so_review_rebuilds_the_prompts_the_job_built(job_run):
    """The hostile record's OCR spells the Llama tokenizer's special tokens: ``review`` must find the prompt
    the job built (OCR unchanged, ``as_run``), which it can only do with the tokens the job neutralised."""
    from formats.queue import build_queue, run_special_tokens

    kind, checkpoint, manifest, _ = job_run
    run, _ = build_queue(manifest.output)
    recorded = run_special_tokens(run.manifest)
    assert recorded == special_tokens(load_tokenizer(str(checkpoint))) == checkpoint_special_tokens(checkpoint)
    statuses = review_queue(run.records, ocr_for(run, None, every_record=True),
                            special_tokens=recorded).column("ocr_status").to_pylist()
    assert statuses == ["as_run"] * len(statuses) and len(statuses) > 0
    if kind == "llama":  # without the tokens, the hostile record's prompt is not one review could rebuild
        blind = review_queue(run.records, ocr_for(run, None, every_record=True)).to_pylist()
        assert {row["id"]: row["ocr_status"] for row in blind if row["ocr_status"] != "as_run"} == {"hostile": "changed"}


@pytest.mark.parametrize("folder", ["data/models/demo-gptj", "data/models/demo-smollm2"])
def test_the_special_tokens_read_from_the_files_are_the_loaded_tokenizers(folder):
    checkpoint = Path(__file__).resolve().parent.parent / folder
    assert checkpoint_special_tokens(checkpoint) == special_tokens(load_tokenizer(str(checkpoint)))


def test_the_context_comes_from_whichever_field_the_architecture_has(tiny_model):
    kind, checkpoint = tiny_model
    config = json.loads((checkpoint / "config.json").read_text())
    field = {"gptj": "n_positions", "llama": "max_position_embeddings"}[kind]
    assert field in CONTEXT_FIELDS and config[field] == 256 and context_length(config) == 256
    assert checkpoint_context_length(checkpoint) == 256
    with pytest.raises(ValueError, match="names no context length"):
        context_length({"model_type": "mystery", "hidden_size": 8})


def test_the_llama_tokenizer_lists_every_special_token_not_only_bos_and_eos(tiny_llama_checkpoint):
    specials = special_tokens(load_tokenizer(str(tiny_llama_checkpoint)))
    assert set(LLAMA_SPECIAL_TOKENS["additional_special_tokens"]) | {"<|im_start|>", "<|im_end|>"} <= set(specials)
    assert "<title>" not in specials  # the tags are ordinary tokens: they survive skip_special_tokens


@pytest.mark.parametrize("raw, cleaned", [
    ("a <file_sep> b", "a (file_sep) b"),
    ("</s><s>", "(/s)(s)"),
    ("[INST] hi", "(INST) hi"),
    ("EOTEOT", "E OTE OT"),        # a bracket-free token is split by a space
    ("<<file_sep>>", "<(file_sep)>"),
])
def test_special_tokens_are_neutralised_and_cleaning_stays_idempotent(raw, cleaned):
    tokens = ("<file_sep>", "</s>", "<s>", "[INST]", "EOT")
    assert clean_line(raw, tokens) == cleaned
    assert clean_line(cleaned, tokens) == cleaned
    assert neutralise_special_tokens(cleaned, tokens) == cleaned


def test_the_deepspeed_engine_check_probes_a_llama_within_its_own_context(tiny_llama_checkpoint):
    from model.config import EngineConfig
    from model.verify import load_verified_engine

    engine = load_verified_engine(str(tiny_llama_checkpoint), EngineConfig(engine="deepspeed", device="cpu"), 8,
                                  "refuse")
    assert engine.name == "deepspeed"  # the probe filled 256 - 8 tokens and both engines agreed
