"""The whole job reads, writes and loads its model on gs:// (a real GCS API on loopback)."""
from __future__ import annotations

import json

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.job import run
from tests.gcs_emulator import BUCKET

ROOT = f"gs://{BUCKET}/end_to_end"  # this module's prefix in the session's emulator
MODEL = f"{ROOT}/models/tiny"
INPUT = f"{ROOT}/input/*.parquet"
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                    ("back_ocr", pa.list_(pa.string())), ("language", pa.string())])


@pytest.fixture(scope="module")
def staged(gcs_emulator, tiny_checkpoint, tmp_path_factory) -> None:
    """The tiny model and one input file (4 good rows, 1 without OCR) uploaded to the emulator."""
    gcs_emulator.upload(tiny_checkpoint, MODEL)
    rows = [{"id": f"g{i}", "front_ocr": ["1964"], "back_ocr": ["KEYSTONE PRESS", f"ref {i}"], "language": "en"}
            for i in range(4)]
    rows.append({"id": "blank", "front_ocr": [], "back_ocr": [], "language": "en"})
    local = tmp_path_factory.mktemp("input") / "part-0.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), local)
    gcs_emulator.upload(local, INPUT.replace("*", "part-0"))


def _read_parquet(fs, pattern: str) -> pa.Table:
    paths = fs.glob(pattern)
    assert paths, f"no file matches {pattern}"
    return pa.concat_tables(pq.read_table(path, filesystem=fs) for path in paths)


def _run(output: str, cache: str):
    return run(["--input", INPUT, "--output", output, "--model", MODEL, "--model_cache_dir", cache,
                "--max_batch_size", "4"])


def test_gs_to_gs_with_the_model_on_gs_and_the_checkpoint_copied_once(gcs_emulator, staged, tmp_path):
    cache = str(tmp_path / "model-cache")
    first = _run(f"{ROOT}/out/first", cache)

    fs, _ = fsspec.core.url_to_fs(f"gs://{BUCKET}")
    fs.invalidate_cache()
    records = _read_parquet(fs, f"{ROOT}/out/first/records/*.parquet")
    dead = _read_parquet(fs, f"{ROOT}/out/first/dead_letter/*.parquet")
    manifest = json.loads(fs.cat(f"{ROOT}/out/first/manifest.json"))
    assert sorted(records.column("id").to_pylist()) == ["g0", "g1", "g2", "g3"]
    assert dead.to_pylist()[0]["id"] == "blank" and dead.to_pylist()[0]["reason"] == "empty_ocr"
    assert (manifest["records_read"], manifest["records_written"], manifest["records_dead_lettered"]) == (5, 4, 1)
    assert set(records.column("model_version").to_pylist()) == {first.model_version}

    # Driver and workers of both runs share one verified copy: the weights crossed the wire once.
    second = _run(f"{ROOT}/out/second", cache)
    assert gcs_emulator.downloads(f"{MODEL}/model.safetensors") == 1
    assert second.model_version == first.model_version
    assert second.records_written == 4 and second.count_invariant_holds
