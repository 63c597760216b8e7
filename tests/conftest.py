"""Fixtures shared by the whole suite.

Expensive things are built once per session: the tiny GPT-J checkpoint (with training's
tokenizer code) and the GCS emulator. Tests that change a checkpoint copy it first.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.gcs_emulator import GcsEmulator, emulator_environment
from tests.tiny_checkpoint import build_tiny_checkpoint, build_tiny_llama_checkpoint

pytest_plugins = ("tests.secret_watch",)  # its ``secret_watch`` fixture, for every test module


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 2-layer random GPT-J (n_positions 256, max_new_tokens 16); treat it as read-only."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_llama_checkpoint(tmp_path_factory) -> Path:
    """A 2-layer random Llama (max_position_embeddings 256, max_new_tokens 16, SmolLM2-like special tokens)."""
    return build_tiny_llama_checkpoint(tmp_path_factory.mktemp("tiny_llama") / "model")


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory) -> Iterator[GcsEmulator]:
    """A running GCS emulator with bucket ``BUCKET``; its variables are in ``os.environ`` meanwhile."""
    with GcsEmulator(tmp_path_factory.mktemp("gcs")) as emulator, emulator_environment(emulator):
        yield emulator


@pytest.fixture(scope="session")
def postgres_server() -> Iterator["PostgresServer"]:
    """A PostgreSQL server for the team store's tests (tests/postgres_server.py); skipped, saying why,
    where none can start."""
    from tests.postgres_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
        server.__enter__()
    except PostgresUnavailable as reason:
        pytest.skip(f"no PostgreSQL server for the team store's tests: {reason}")
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def workbench_run(tmp_path) -> Path:
    """A run folder for the workbench's tests (tests/review_run.py: ``write_workbench_run``)."""
    from tests.review_run import write_workbench_run

    return write_workbench_run(tmp_path)
