"""Nightly backfill: process only what earlier runs under PREFIX have not, and commit each night whole.

Layout (SPEC §5)::

    PREFIX/run_date=YYYY-MM-DD/records/*.parquet      committed output of that night
    PREFIX/run_date=YYYY-MM-DD/dead_letter/*.parquet
    PREFIX/run_date=YYYY-MM-DD/manifest.json          the commit marker, written last
    PREFIX/_staging/run_date=YYYY-MM-DD/RUN_ID/       where a run writes before it commits

Commit protocol: a run writes its whole output to staging (Beam's Parquet sink), moves the
finished files into the partition, then writes ``manifest.json``. Readers (the anti-join
here, ``pipeline latest``) only look at partitions that have a manifest, so a run killed
at any point leaves nothing visible; the next run of that date deletes the leftovers
(staging, and partition files without a manifest) and does the night's work again. A
partition with a manifest is never touched again: re-running its date does nothing.

Every path goes through Beam's ``FileSystems``, so ``gs://`` prefixes work the same.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from formats.elements import PromptedRecord
from pipeline.dead_letter import METRICS_NAMESPACE
from pipeline.job import execute, format_summary, new_run_id, plan_job
from pipeline.manifest import Manifest, write_json
from pipeline.options import BackstampOptions
from pipeline.preflight import InputError

MANIFEST = "manifest.json"
STAGING = "_staging"
OUTPUT_FOLDERS = ("records", "dead_letter")
DONE_COLUMNS = ["id", "input_hash", "model_version"]
_PARTITION = re.compile(r"run_date=(\d{4}-\d{2}-\d{2})$")


class BackfillOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("Backstamp backfill")
        group.add_argument("--run_date", default=None,
                           help="Partition to write, YYYY-MM-DD (default: today in UTC).")
        group.add_argument("--reprocess", action="store_true", default=False,
                           help="Process every record, even those an earlier run wrote with this model.")


@dataclass(frozen=True)
class Partition:
    """A committed night: ``path`` holds records/, dead_letter/ and manifest.json."""

    run_date: str
    path: str


@dataclass(frozen=True)
class BackfillOutcome:
    """What one backfill call did. ``status``: committed, already_committed or not_committed."""

    status: str
    partition: str
    manifest: dict[str, Any]
    summary: str


def normalise_prefix(prefix: str) -> str:
    """Absolute for local paths (Beam's local matches return absolute paths), no trailing slash."""
    prefix = prefix.rstrip("/")
    return prefix if "://" in prefix else os.path.abspath(prefix)


def partition_path(prefix: str, run_date: str) -> str:
    return FileSystems.join(prefix, f"run_date={run_date}")


def committed_partitions(prefix: str) -> list[Partition]:
    """The partitions under ``prefix`` that hold a manifest, oldest first; the rest are invisible."""
    partitions = []
    for metadata in FileSystems.match([FileSystems.join(prefix, "run_date=*", MANIFEST)])[0].metadata_list:
        folder = FileSystems.split(metadata.path)[0]
        found = _PARTITION.search(folder)
        if found:
            partitions.append(Partition(run_date=found.group(1), path=folder))
    return sorted(partitions, key=lambda p: p.run_date)


def read_json(path: str) -> dict[str, Any]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return json.loads(handle.read().decode("utf-8"))


def delete_tree(folder: str) -> int:
    """Delete every file under ``folder`` (and the folder, on filesystems with folders); return the file count."""
    files = [m.path for m in FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list]
    if files:
        FileSystems.delete(files)
    if FileSystems.exists(folder):  # local folders (GCS has none once its objects are gone)
        FileSystems.delete([folder])
    return len(files)


class SkipProcessed(beam.PTransform):
    """Keep the prompted records whose ``(id, input_hash, model_version)`` no earlier output holds.

    An anti-join by CoGroupByKey on id against the three columns of the earlier records
    files (Parquet column projection reads nothing else). A shuffle rather than a side
    input: a side input is a full copy of every processed key on every worker, which at
    tens of millions of ids is gigabytes per worker; the shuffle spreads the keys over the
    workers and grows with the cluster. Skipped records are counted (``records_skipped``)
    so the manifest keeps read = written + dead-lettered + skipped.
    """

    def __init__(self, earlier_records: Sequence[str], model_version: str):
        """``earlier_records``: file patterns of the records of committed partitions."""
        super().__init__()
        self._earlier_records = list(earlier_records)
        self._model_version = model_version

    def expand(self, prompted: beam.PCollection) -> beam.PCollection:
        done = (
            prompted.pipeline
            | "EarlierRecords" >> beam.Create(self._earlier_records)
            | "ReadDoneKeys" >> ReadAllFromParquet(columns=DONE_COLUMNS)
            | "SameModel" >> beam.Filter(lambda row, version: row["model_version"] == version,
                                         self._model_version)
            | "KeyDoneById" >> beam.Map(lambda row: (row["id"], row["input_hash"]))
        )
        todo = prompted | "KeyPromptById" >> beam.Map(lambda record: (record.id, record))
        return ({"todo": todo, "done": done}
                | "JoinById" >> beam.CoGroupByKey()
                | "DropDone" >> beam.ParDo(_DropDone()))


class _DropDone(beam.DoFn):
    def __init__(self) -> None:
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "records_skipped")

    def process(self, joined: tuple[str, dict[str, Iterable[Any]]]) -> Iterable[PromptedRecord]:
        _, groups = joined
        done_hashes = set(groups["done"])
        for record in groups["todo"]:
            if record.input_hash in done_hashes:
                self._skipped.inc()
            else:
                yield record


def _run_date(text: str | None) -> str:
    if text is None:
        return datetime.now(timezone.utc).date().isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"--run_date {text!r}: expected YYYY-MM-DD") from None


def _commit(staging: str, partition: str, manifest: Manifest) -> Manifest:
    """Move the staged files into the partition, then write its manifest: the commit point."""
    sources, targets = [], []
    for folder in OUTPUT_FOLDERS:
        target = FileSystems.join(partition, folder)
        staged = [m.path for m in FileSystems.match([FileSystems.join(staging, folder, "*.parquet")])[0].metadata_list]
        if staged and not FileSystems.exists(target):
            FileSystems.mkdirs(target)
        sources += staged
        targets += [FileSystems.join(target, FileSystems.split(path)[1]) for path in staged]
    if sources:
        FileSystems.rename(sources, targets)
    committed = dataclasses.replace(manifest, output=partition)
    write_json(FileSystems.join(partition, MANIFEST), committed.to_json())
    return committed


def run_backfill(argv: Sequence[str]) -> BackfillOutcome:
    """Run one night of the backfill described by ``argv`` (our flags, backfill flags and Beam's)."""
    pipeline_options = PipelineOptions(list(argv))
    options = pipeline_options.view_as(BackstampOptions)
    backfill = pipeline_options.view_as(BackfillOptions)
    if not options.output:
        raise InputError("--output PREFIX is required")
    prefix = normalise_prefix(options.output)
    run_date = _run_date(backfill.run_date)
    partition = partition_path(prefix, run_date)
    if FileSystems.exists(FileSystems.join(partition, MANIFEST)):
        done = read_json(FileSystems.join(partition, MANIFEST))
        return BackfillOutcome(
            "already_committed", partition, done,
            f"run_date={run_date} is already committed (run {done['run_id']}, {done['records_written']} "
            f"written, {done['records_dead_lettered']} dead-lettered, {done['records_skipped']} skipped); "
            f"nothing changed: {partition}")

    # Leftovers of a killed run of this date: its staging, and files moved before the manifest was written.
    staging_root = FileSystems.join(prefix, STAGING, f"run_date={run_date}")
    stale_files = delete_tree(staging_root) + delete_tree(partition)
    options.run_id = options.run_id or new_run_id()
    staging = FileSystems.join(staging_root, options.run_id)
    options.output = staging
    plan = plan_job(options)
    earlier = committed_partitions(prefix)
    select = None if backfill.reprocess else SkipProcessed(
        [FileSystems.join(p.path, "records", "*.parquet") for p in earlier], plan.model_version)
    manifest = execute(pipeline_options, plan, select)
    manifest = dataclasses.replace(manifest, extra={
        **manifest.extra, "run_date": run_date, "reprocess": backfill.reprocess,
        "earlier_partitions": len(earlier), "stale_files_removed": stale_files})
    if not manifest.count_invariant_holds:
        return BackfillOutcome(
            "not_committed", partition, json.loads(manifest.to_json()),
            format_summary(manifest) + f"\n  NOT committed: the counts disagree; output left in {staging}")
    committed = _commit(staging, partition, manifest)
    delete_tree(staging_root)
    return BackfillOutcome("committed", partition, json.loads(committed.to_json()),
                           format_summary(committed) + f"\n  committed             run_date={run_date}")


def print_backfill_help() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline backfill",
        description="Process the records no earlier run under --output has processed with this model, "
                    "into --output/run_date=YYYY-MM-DD/, committed whole at the end (docs/backfill.md).",
        epilog="Every option of `python -m pipeline run --help` applies too (model, engine, batching, "
               "Beam's runner options); --output is the PREFIX holding the partitions.",
        conflict_handler="resolve",
    )
    BackfillOptions._add_argparse_args(parser)  # the documented way options declare their flags
    BackstampOptions._add_argparse_args(parser)
    parser.print_help()


def main(argv: Sequence[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print_backfill_help()
        return 0
    try:
        outcome = run_backfill(argv)
    except (InputError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(outcome.summary)
    return 1 if outcome.status == "not_committed" else 0


if __name__ == "__main__":  # `python -m pipeline.backfill`, for launchers that take one module (Airflow's -m)
    sys.exit(main(sys.argv[1:]))
