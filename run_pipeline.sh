#!/usr/bin/env bash
# Backstamp launcher. With no argument: set up .venv if needed and run the bundled sample
# through the whole job with the demo model on DirectRunner, output under ./out/sample.
#
#   ./run_pipeline.sh [local] [extra pipeline flags]   (e.g. --model data/models/demo-smollm2: the LoRA demo)
#   ./run_pipeline.sh backfill --input GLOB --output WAREHOUSE --run_date YYYY-MM-DD [--catalog_uri URI] [--reprocess]  (docs/backfill.md; exit 4: another run committed the night)
#   ./run_pipeline.sh dataflow --project P --region R --bucket B --image IMAGE --input GS_GLOB --model GS_PATH [--gpu nvidia-l4:1] [--dry_run]  (docs/runners.md)
#   ./run_pipeline.sh flink --flink_master HOST:PORT --image IMAGE --input GLOB --output PREFIX --model PATH  (docs/runners.md)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

MODE="${1:-local}"
case "$MODE" in
  -*) MODE=local ;;  # ./run_pipeline.sh --model data/models/demo-smollm2: the sample job with other flags
  *) [ $# -gt 0 ] && shift ;;
esac

case "$MODE" in
  local)
    OUT="out/sample"
    rm -rf "$OUT"
    python -m pipeline run \
      --input data/sample/records.parquet \
      --output "$OUT" \
      --model data/models/demo-gptj \
      "$@"
    echo
    echo "Scores against the sample's labels:"
    python -m pipeline evaluate \
      --predictions "$OUT/records/*.parquet" \
      --labels data/sample/labels.parquet \
      --json "$OUT/eval.json"
    ;;
  backfill)
    python -m pipeline backfill "$@"
    ;;
  dataflow|flink)
    python -m pipeline.launch "$MODE" "$@"
    ;;
  *)
    echo "unknown mode '$MODE' (expected: local, backfill, dataflow or flink)" >&2
    exit 2
    ;;
esac
