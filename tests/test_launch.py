"""``./run_pipeline.sh dataflow|flink``: the runner flags, and the Dataflow job built offline (``--dry_run``)."""
from __future__ import annotations

import socket

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, WorkerOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.internal import apiclient
from apache_beam.transforms import environments

from pipeline import launch
from pipeline.options import BackstampOptions

IMAGE = "us-docker.pkg.dev/my-project/backstamp/worker:0.1"
DATAFLOW = ["dataflow", "--project", "my-project", "--region", "us-central1", "--bucket", "backstamp-demo"]
GS_JOB = ["--input", "gs://backstamp-demo/in/*.parquet", "--model", "gs://backstamp-demo/models/gptj"]
LOOPBACK = {"127.0.0.1", "::1", "localhost", None}


@pytest.fixture
def network_attempts(monkeypatch) -> list:
    """Refuse (and record) every connection or name lookup that would leave this machine."""
    attempts: list = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            attempts.append(address)
            raise OSError(f"network use in a test: {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            attempts.append(host)
            raise socket.gaierror(f"network use in a test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_dataflow_dry_run_prints_the_job_without_touching_the_network(network_attempts, capsys):
    assert launch.main(DATAFLOW + ["--image", IMAGE, "--dry_run"] + GS_JOB) == 0
    printed = capsys.readouterr().out
    assert "job built, not submitted" in printed
    assert IMAGE in printed and "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver" in printed
    steps = printed.split("steps", 1)[1].split("\n", 1)[0]
    assert steps.index("Prompt") < steps.index("Generate") < steps.index("Parse") < steps.index("WriteRecords")
    assert network_attempts == []


def test_dataflow_dry_run_graph_has_runinference_on_the_gpu_image(network_attempts):
    job_argv, is_dry_run = launch.prepare(DATAFLOW + ["--image", IMAGE, "--max_workers", "8", "--dry_run"] + GS_JOB)
    assert is_dry_run
    job = launch.dry_run(job_argv).job

    transforms = job.proto_pipeline.components.transforms.values()
    assert any(t.unique_name == "Generate/RunInference" for t in transforms)
    for environment in job.proto_pipeline.components.environments.values():
        assert environment.urn == "beam:env:docker:v1"
        assert beam_runner_api_pb2.DockerPayload.FromString(environment.payload).container_image == IMAGE

    # What Dataflow would be sent, built the way DataflowRunner builds it at submission.
    sent = apiclient.Environment([], job.options, "8", "gs://backstamp-demo/pipeline.pb", job.proto_pipeline).proto
    assert list(sent.service_options) == ["worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"]
    assert "use_runner_v2" in sent.experiments
    (pool,) = sent.worker_pools
    assert pool.machine_type == "g2-standard-8"
    assert pool.autoscaling_settings.max_num_workers == 8
    assert [image.container_image for image in pool.sdk_harness_container_images] == [IMAGE]

    ours = job.options.view_as(BackstampOptions)
    assert (ours.model_copies, ours.device) == (1, "cuda")  # one model per GPU, and no silent CPU fallback
    assert ours.output.startswith("gs://backstamp-demo/backstamp/runs/") and ours.output.endswith(ours.run_id)
    assert network_attempts == []


def test_cpu_dataflow_workers_install_the_package_with_setup_py():
    job_argv, _ = launch.prepare(DATAFLOW + ["--gpu", "none"] + GS_JOB)
    assert f"--setup_file={launch.SETUP_FILE}" in job_argv
    assert not any(arg.startswith(("--dataflow_service_options", "--model_copies", "--device")) for arg in job_argv)


def test_flags_given_to_the_job_win_over_the_launchers():
    job_argv, _ = launch.prepare(DATAFLOW + ["--image", IMAGE] + GS_JOB + ["--max_num_workers=20", "--device=cpu"])
    options = PipelineOptions(job_argv)
    assert options.view_as(WorkerOptions).max_num_workers == 20
    assert options.view_as(BackstampOptions).device == "cpu"


@pytest.mark.parametrize("argv, message", [
    (DATAFLOW + GS_JOB, r"GPU workers need the worker image"),
    (DATAFLOW + ["--image", IMAGE, "--gpu", "nvidia-l4:2"] + GS_JOB, r"one GPU per worker is supported"),
    (DATAFLOW + ["--image", IMAGE, "--gpu", "nvidia-b300:1"] + GS_JOB, r"pass --machine_type"),
    (DATAFLOW + ["--image", IMAGE, "--gpu", "l4:x"] + GS_JOB, r"expected TYPE:COUNT"),
    (DATAFLOW + ["--image", IMAGE, "--input", "gs://b/in/*.parquet"], r"--model data/models/demo-gptj: Dataflow"),
    (DATAFLOW + ["--image", IMAGE, "--input", "in/*.parquet", "--model", "gs://b/m"], r"--input in/\*\.parquet"),
    (["flink", "--flink_master", "flink:8081"] + GS_JOB, r"Flink workers need the worker image"),
])
def test_a_launch_that_could_not_work_is_refused_with_the_fix(argv, message):
    with pytest.raises(launch.LaunchError, match=message):
        launch.prepare(argv)


def test_flink_runs_the_worker_image_as_the_sdk_environment():
    job_argv, is_dry_run = launch.prepare(["flink", "--flink_master", "flink-jm:8081", "--image", IMAGE,
                                           "--parallelism", "4"] + GS_JOB)
    options = PipelineOptions(job_argv)
    assert not is_dry_run
    assert options.get_all_options()["runner"] == "FlinkRunner"
    assert options.get_all_options()["flink_master"] == "flink-jm:8081"
    assert options.get_all_options()["parallelism"] == 4
    environment = environments.Environment.from_options(options.view_as(PortableOptions))
    assert isinstance(environment, environments.DockerEnvironment) and environment.container_image == IMAGE


def test_flink_accepts_an_external_sdk_harness_instead_of_the_image():
    job_argv, _ = launch.prepare(["flink", "--flink_master", "flink-jm:8081", "--environment_type=EXTERNAL",
                                  "--environment_config=localhost:50000"] + GS_JOB)
    environment = environments.Environment.from_options(PipelineOptions(job_argv).view_as(PortableOptions))
    assert isinstance(environment, environments.ExternalEnvironment)
