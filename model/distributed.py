"""The one-process DeepSpeed environment shared by training (``train``) and the inference engine.

Outside the ``deepspeed`` launcher nothing describes a process group, and DeepSpeed would
try MPI discovery. The port depends on the process id so that two such processes on one
machine (a training run and a pipeline, or parallel tests) do not collide. Values the
launcher set are kept.
"""
from __future__ import annotations

import os


def single_process_env() -> None:
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(29500 + os.getpid() % 1000), "RANK": "0",
                       "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        os.environ.setdefault(key, value)
