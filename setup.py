"""Packaging for Backstamp: the Beam job, the model code and the training entry point.

Workers on Dataflow/Flink install this package (``--setup_file ./setup.py`` or the
worker image), so everything the pipeline imports at run time is in ``install_requires``.
Pinned versions live in ``constraints.txt``; install with ``pip install -c constraints.txt``.
"""
from setuptools import find_packages, setup

setup(
    name="backstamp",
    version="0.1.0",
    description="Press-photo OCR to catalogue fields with a fine-tuned GPT-J on Apache Beam",
    python_requires=">=3.10",
    packages=find_packages(include=["formats", "formats.*", "pipeline", "pipeline.*", "model", "model.*", "train", "train.*",
                                    "decisions", "decisions.*", "workbench", "workbench.*"]),
    install_requires=[
        "apache-beam>=2.77,<3",
        "torch>=2.4",
        "transformers>=5.0,<6",
        "tokenizers>=0.22",
        "safetensors>=0.4",
        "pyarrow>=17",
        "numpy>=1.26",
        "dateparser>=1.2",
        "fsspec>=2024.6",
        "filelock>=3.12",
        "regex>=2024.5",  # the prompt's Unicode-class cleaning
        "psutil>=5.9",  # the worker's memory check (model/memory.py)
        "rapidfuzz>=3.9",  # OCR evidence for each field, tolerant of OCR noise
        "pyiceberg[sql-sqlite,pyarrow]>=0.12,<0.13",  # the backfill's catalogue table (SPEC §8)
        "matplotlib>=3.8",  # evaluate's reliability plot
        # Without scipy Beam 2.77 disables its model manager with a misleading
        # "Resource module is not available" warning.
        "scipy>=1.11",
        "peft>=0.17",  # LoRA adapters: trained by train/, merged once per worker by model/ (SPEC §6)
        "gguf>=0.17",  # reading the pretrained base that a package ships as GGUF (model/pretrained_base.py)
        "SQLAlchemy>=2.0",  # the review decisions store (SPEC §9): SQLite file or PostgreSQL
        "pg8000>=1.31",  # PostgreSQL driver in pure Python, for a team's decisions store
    ],
    extras_require={
        "gcp": ["apache-beam[gcp]>=2.77,<3", "gcsfs>=2024.6", "pyiceberg[gcsfs]>=0.12,<0.13"],
        "train": ["deepspeed>=0.15", "faker>=30"],
        # The review workbench (SPEC §9): a web app served by uvicorn.
        "review": ["fastapi>=0.115", "starlette>=0.40", "uvicorn>=0.30", "jinja2>=3.1", "python-multipart>=0.0.9"],
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "gcp-storage-emulator>=2024.8",
            "selenium>=4.20",  # drives Debian's chromium + chromedriver in the workbench's browser tests
            # A second Iceberg reader for the catalogue tests: DuckDB with its iceberg extension shipped by
            # a package (DuckDB would otherwise download it at run time).
            "duckdb>=1.4.4,<1.5",
            "duckdb-ext>=0.1.2",
            "duckdb-ext-iceberg>=1.4.4,<1.5",
            "duckdb-ext-avro>=1.4.4,<1.5",
        ],
    },
)
