# Worker image for Dataflow GPU workers and Flink's DOCKER environment (docs/runners.md):
# the Beam 2.77 Python 3.11 SDK harness, CUDA PyTorch, DeepSpeed and this package.
#
# The base is Beam's own SDK image, so the harness (/opt/apache/beam/boot, the entrypoint)
# and Python match the launcher exactly. PyTorch's CUDA wheels bring the CUDA runtime;
# the NVIDIA driver comes from Dataflow (install-nvidia-driver). nvcc and the cuBLAS/cuRAND
# headers are there for DeepSpeed, which compiles its inference kernels on first use.
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG CUDA_APT=12-8
# GPUs Dataflow offers: T4 (7.5), A100 (8.0), L4 (8.9), H100 (9.0).
ENV TORCH_CUDA_ARCH_LIST="7.5;8.0;8.9;9.0" \
    CUDA_HOME=/usr/local/cuda \
    PATH=/usr/local/cuda/bin:${PATH} \
    TORCH_EXTENSIONS_DIR=/opt/backstamp/torch_extensions \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends wget gnupg ca-certificates \
 && wget -q https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb \
 && dpkg -i cuda-keyring_1.1-1_all.deb && rm cuda-keyring_1.1-1_all.deb \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      cuda-minimal-build-${CUDA_APT} libcublas-dev-${CUDA_APT} libcurand-dev-${CUDA_APT} \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/backstamp/src
COPY constraints.txt setup.py ./
COPY pipeline ./pipeline
COPY model ./model
COPY train ./train
# torch first from the CUDA index (constraints pin the version; the +cuXXX build satisfies it),
# then the package with the runtime extras under the same constraints as the tests.
RUN pip install -c constraints.txt --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && pip install -c constraints.txt ".[gcp,train]" \
 && python -c "import apache_beam, torch, deepspeed, pipeline.job, model.remote_cache; \
assert apache_beam.__version__ == '${BEAM_VERSION}', apache_beam.__version__"

WORKDIR /opt/backstamp
# ENTRYPOINT stays Beam's /opt/apache/beam/boot from the base image.
