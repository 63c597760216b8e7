"""Run the unchanged job on Dataflow GPU workers or on a Flink cluster.

``./run_pipeline.sh dataflow|flink ...`` ends here. The launcher turns a few choices
(project, bucket, GPU, worker image, cluster address) into the runner's own Beam flags and
hands everything else to ``pipeline.job`` untouched; flags given after the launcher's win,
so any Beam option can still be overridden. See docs/runners.md.

Dataflow choices, and why:
- Runner v2 with the custom worker image (``--sdk_container_image``, ``--sdk_location=container``):
  CUDA PyTorch, DeepSpeed and this package are baked in, so workers install nothing at start;
- the GPU through the ``worker_accelerator`` service option with ``install-nvidia-driver``,
  on a machine family that can host it;
- ``--model_copies=1``: one GPT-J per GPU, shared by all SDK processes of the VM, instead
  of one per process (which would not fit in GPU memory);
- ``--device=cuda``: a worker whose GPU is missing fails loudly instead of running a 6B model
  on CPU for days.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, WorkerOptions
from apache_beam.runners.runner import PipelineResult

from pipeline.job import build_graph, main as run_job, new_run_id, plan_job
from pipeline.options import BackstampOptions
from pipeline.preflight import InputError
from pipeline.redaction import redacted_cli

SETUP_FILE = Path(__file__).resolve().parents[1] / "setup.py"
# A one-GPU machine type of the family each Dataflow GPU needs.
GPU_MACHINE_TYPES = {
    "nvidia-l4": "g2-standard-8",
    "nvidia-tesla-t4": "n1-standard-8",
    "nvidia-tesla-v100": "n1-standard-8",
    "nvidia-tesla-a100": "a2-highgpu-1g",
    "nvidia-a100-80gb": "a2-ultragpu-1g",
}


class LaunchError(ValueError):
    """The launch flags cannot describe a working job; the message says what to change."""


@dataclass(frozen=True)
class Accelerator:
    """A Dataflow GPU request: ``type`` as Dataflow names it and how many per worker."""

    type: str
    count: int

    @classmethod
    def parse(cls, text: str) -> Optional["Accelerator"]:
        """``nvidia-l4:1`` → Accelerator; ``none`` → None (CPU workers)."""
        if text == "none":
            return None
        kind, _, count = text.partition(":")
        if not kind or not (count or "1").isdigit():
            raise LaunchError(f"--gpu {text!r}: expected TYPE:COUNT such as nvidia-l4:1, or none")
        return cls(kind, int(count or 1))

    def service_option(self) -> str:
        return f"worker_accelerator=type:{self.type};count:{self.count};install-nvidia-driver"


@dataclass(frozen=True)
class DataflowConfig:
    project: str
    region: str
    bucket: str
    gpu: Optional[Accelerator]
    image: Optional[str]
    machine_type: Optional[str]
    max_workers: int
    dry_run: bool


@dataclass(frozen=True)
class FlinkConfig:
    flink_master: str
    image: Optional[str]
    parallelism: Optional[int]


def dataflow_args(config: DataflowConfig) -> list[str]:
    """DataflowRunner flags for ``config``; raises ``LaunchError`` for a job that could not run."""
    bucket = config.bucket.removeprefix("gs://").strip("/")
    args = [
        "--runner=DataflowRunner", f"--project={config.project}", f"--region={config.region}",
        f"--temp_location=gs://{bucket}/backstamp/tmp", f"--staging_location=gs://{bucket}/backstamp/staging",
        "--experiments=use_runner_v2", f"--max_num_workers={config.max_workers}",
    ]
    if config.image:
        args += [f"--sdk_container_image={config.image}", "--sdk_location=container"]
    elif config.gpu:
        raise LaunchError("GPU workers need the worker image with CUDA PyTorch: pass --image "
                          "(build it with the Dockerfile, docs/runners.md), or --gpu none for CPU workers")
    else:
        args.append(f"--setup_file={SETUP_FILE}")
    if config.gpu:
        if config.gpu.count != 1:
            raise LaunchError(f"--gpu {config.gpu.type}:{config.gpu.count}: one GPU per worker is supported "
                              "(one model per GPU); scale out with --max_workers instead")
        machine_type = config.machine_type or GPU_MACHINE_TYPES.get(config.gpu.type)
        if not machine_type:
            raise LaunchError(f"--gpu {config.gpu.type}: no default machine type known; pass --machine_type")
        args += [f"--dataflow_service_options={config.gpu.service_option()}", f"--machine_type={machine_type}",
                 "--model_copies=1", "--device=cuda"]
    elif config.machine_type:
        args.append(f"--machine_type={config.machine_type}")
    if config.dry_run:
        args.append("--dry_run=True")
    return args


def flink_args(config: FlinkConfig, job_argv: Sequence[str]) -> list[str]:
    """FlinkRunner flags: the worker image as a DOCKER environment, unless the job names its own."""
    args = ["--runner=FlinkRunner", f"--flink_master={config.flink_master}"]
    if config.parallelism:
        args.append(f"--parallelism={config.parallelism}")
    if config.image:
        args += ["--environment_type=DOCKER", f"--environment_config={config.image}"]
    elif not any(arg.startswith("--environment_type") for arg in job_argv):
        raise LaunchError("Flink workers need the worker image (--image) or an SDK harness of your own "
                          "(--environment_type=EXTERNAL --environment_config=HOST:PORT)")
    return args


def prepare(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``MODE [launcher flags] [job flags]`` → (the job's full argv, whether it is a Dataflow dry run)."""
    epilog = "Every other flag goes to the job unchanged: see python -m pipeline run --help and docs/runners.md."
    parser = argparse.ArgumentParser(prog="run_pipeline.sh", description=__doc__.split("\n\n")[0],
                                     epilog=epilog, allow_abbrev=False)
    modes = parser.add_subparsers(dest="mode", required=True)
    # No abbreviations: a Beam flag must never be taken for a prefix of a launcher flag.
    dataflow = modes.add_parser("dataflow", help="Google Cloud Dataflow, GPU workers",
                               epilog=epilog, allow_abbrev=False)
    dataflow.add_argument("--project", required=True)
    dataflow.add_argument("--region", required=True)
    dataflow.add_argument("--bucket", required=True, help="Bucket for staging, temp files and default output.")
    dataflow.add_argument("--gpu", default="nvidia-l4:1",
                          help="TYPE:COUNT per worker (default nvidia-l4:1), or none for CPU workers.")
    dataflow.add_argument("--image", help="Worker image (Dockerfile); required with a GPU.")
    dataflow.add_argument("--machine_type", help="Default: a one-GPU type of the family the GPU needs.")
    dataflow.add_argument("--max_workers", type=int, default=4)
    dataflow.add_argument("--dry_run", action="store_true",
                          help="Build the job offline and print it; submit nothing, read no input or model.")
    flink = modes.add_parser("flink", help="a Flink cluster (FlinkRunner, portable)",
                            epilog=epilog, allow_abbrev=False)
    flink.add_argument("--flink_master", required=True, help="HOST:PORT of the Flink REST endpoint.")
    flink.add_argument("--image", help="Worker image run as the DOCKER SDK environment.")
    flink.add_argument("--parallelism", type=int, default=None)
    known, job_argv = parser.parse_known_args(list(argv))
    job = PipelineOptions(job_argv).view_as(BackstampOptions)

    if known.mode == "flink":
        return flink_args(FlinkConfig(known.flink_master, known.image, known.parallelism), job_argv) + job_argv, False

    config = DataflowConfig(known.project, known.region, known.bucket, Accelerator.parse(known.gpu), known.image,
                            known.machine_type,
                            known.max_workers, known.dry_run)
    extra: list[str] = []
    if not job.output:  # a fresh folder per run, named like the run id stamped on its rows
        run_id = job.run_id or new_run_id()
        extra = [f"--output=gs://{config.bucket.removeprefix('gs://').strip('/')}/backstamp/runs/{run_id}",
                 f"--run_id={run_id}"]
    for flag, value in (("--input", job.input), ("--model", job.model)):
        if value and not value.startswith("gs://"):
            raise LaunchError(f"{flag} {value}: Dataflow workers cannot read local paths; upload it to gs://")
    return dataflow_args(config) + extra + job_argv, config.dry_run


def dry_run(job_argv: Sequence[str]) -> PipelineResult:
    """Build the Dataflow job without submitting it or reading any storage: ``result.job`` is the job."""
    options = PipelineOptions(list(job_argv))
    plan = plan_job(options.view_as(BackstampOptions), check_storage=False)
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, plan)
    return pipeline.run()


def format_dry_run(result: PipelineResult) -> str:
    options = result.job.options
    cloud, worker = options.view_as(GoogleCloudOptions), options.view_as(WorkerOptions)
    job = options.view_as(BackstampOptions)
    proto = result.job.proto_pipeline
    transforms = proto.components.transforms
    steps = [transforms[step].unique_name for root in proto.root_transform_ids
             for step in transforms[root].subtransforms]
    return "\n".join([
        "Dataflow dry run: job built, not submitted (no network used)",
        f"  project / region      {cloud.project} / {cloud.region}",
        f"  worker image          {worker.sdk_container_image or 'Beam default + --setup_file'}",
        f"  service options       {', '.join(cloud.dataflow_service_options or []) or '-'}",
        f"  machine type          {worker.machine_type or 'Dataflow default'}, at most {worker.max_num_workers} workers",
        f"  models per worker     {job.model_copies or 'one per SDK process'}",
        f"  steps                 {', '.join(steps)}",
        f"  input                 {job.input}",
        f"  output                {job.output}",
        f"  model                 {job.model}",
        "  not checked           input files, output folder and model (a real launch checks them first)",
    ])


@redacted_cli  # the launcher's own messages and the dry run's listing quote --input, --model ...
def main(argv: Sequence[str]) -> int:
    try:
        job_argv, is_dry_run = prepare(argv)
        if is_dry_run:
            print(format_dry_run(dry_run(job_argv)))
            return 0
    except (LaunchError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run_job(job_argv)


if __name__ == "__main__":
    sys.exit(main())
