"""Nightly backfill into the catalogue tables (SPEC §8, docs/backfill.md).

One night: read the whole catalogue, process only what changed since each id's newest
committed row, and commit the night's rows to ``backstamp.records`` and its dead letters
to ``backstamp.dead_letter`` (Iceberg, ``pipeline.catalog``), each in one snapshot.

The anti-join and the withdrawn marker work from each id's *state*: its newest committed
event over both tables (nights in ``run_date`` order; on one night a row outranks a dead
letter, since a duplicated id yields both). A prompted record is skipped only when its
state is a row of the same ``input_hash`` and ``model_version``, so OCR that goes A → B → A
is processed again on the third night, and an id whose newest event is a dead letter or a
withdrawal is retried. An id whose state is a row but that tonight's input lacks gets a
*withdrawn* row (``withdrawn = true``, fields empty), which ``latest`` does not serve.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, NamedTuple, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from formats.elements import PromptedRecord
from formats.records import record_json
from formats.schemas import RUN_DATE_FIELD, WITHDRAWN_FIELD
from pipeline import catalog as cat
from pipeline import decisions_catalog
from pipeline.dead_letter import DEAD as DEAD_OUTPUT
from pipeline.dead_letter import METRICS_NAMESPACE, dead_letter
from pipeline.footers import rows_per_file
from pipeline.job import JobPlan, Written, build_rows, execute, format_summary, new_run_id, plan_job
from pipeline.manifest import Manifest
from pipeline.options import BackstampOptions
from pipeline.preflight import InputError
from pipeline.redaction import configure as configure_redaction
from pipeline.redaction import redact, redacted_cli

# Exit codes (docs/backfill.md)
EXIT_OK = 0  # committed, or the night was already committed (nothing changed)
EXIT_NOT_COMMITTED = 1  # the counts disagree: nothing committed
EXIT_BAD_INPUT = 2  # bad input, options or warehouse
# 3: an unforeseen error, reported as a redacted traceback (pipeline.redaction.EXIT_FAILED)
EXIT_LOST_RACE = 4  # another run committed this night first: nothing committed

# A night later than today (UTC) by more than this, or before EARLIEST_NIGHT, is refused unless
# --allow_any_run_date: a typo night (2204-03-02) would outrank every real night in ``latest`` for good.
# One day covers a night started before midnight UTC where the local date is already tomorrow.
RUN_DATE_MARGIN = timedelta(days=1)
EARLIEST_NIGHT = date(2000, 1, 1)

STATE_COLUMNS = ["id", "input_hash", "model_version", "run_date", "processed_at", "withdrawn"]
DEAD_STATE_COLUMNS = ["id", "run_date", "failed_at"]
RECORD, WITHDRAWN, DEAD = "record", "withdrawn", "dead"
_RANK = {DEAD: 0, RECORD: 1, WITHDRAWN: 1}  # same night: a row (or withdrawal) outranks a dead letter


class BackfillOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("Backstamp backfill")
        group.add_argument("--run_date", default=None,
                           help="The night to commit, YYYY-MM-DD (default: today in UTC).")
        group.add_argument("--reprocess", action="store_true", default=False,
                           help="Process every record, and replace the night if it is already committed.")
        group.add_argument("--allow_any_run_date", action="store_true", default=False,
                           help=f"Accept a --run_date later than today (UTC) + {RUN_DATE_MARGIN.days} day or before "
                                f"{EARLIEST_NIGHT.isoformat()} (refused by default: such a night is almost always "
                                "a typo, and a future night outranks every real one).")
        group.add_argument("--drop_night", action="store_true", default=False,
                           help="Remove the committed night --run_date from both tables (one commit each) instead "
                                "of running; latest then serves each id's row of the nights before. Needs no "
                                "--input or --model.")
        group.add_argument("--catalog_uri", default=None,
                           help="Iceberg catalog: a SQLAlchemy URL (sqlite:///..., postgresql+psycopg2://...) or a "
                                "REST catalog https://... (default for a local --output: sqlite:///OUTPUT/catalog.db; "
                                "required for gs://).")
        group.add_argument("--store", default=None,
                           help="The decisions store (SPEC §9) whose decisions each night commits into "
                                "backstamp.reviews: a SQLAlchemy URL or SQLite path (default: WAREHOUSE/reviews.db "
                                "when it exists; a gs:// warehouse needs --store to commit decisions).")


class State(NamedTuple):
    """The latest committed event of an id: a row, a withdrawal or a dead letter (``kind``)."""

    run_date: str  # ISO
    rank: int  # orders the kinds of one night (_RANK)
    at: Any  # processed_at or failed_at
    kind: str
    input_hash: str
    model_version: str

    def is_row(self, input_hash: str | None = None, model_version: str | None = None) -> bool:
        """A written row (of this input_hash and model_version, when given)."""
        return self.kind == RECORD and (input_hash is None or (self.input_hash, self.model_version)
                                        == (input_hash, model_version))


def record_state(row: dict[str, Any]) -> tuple[str, State]:
    kind = WITHDRAWN if row["withdrawn"] else RECORD
    return row["id"], State(str(row["run_date"]), _RANK[kind], row["processed_at"], kind,
                            row["input_hash"] or "", row["model_version"] or "")


def dead_state(row: dict[str, Any]) -> tuple[str, State]:
    return row["id"], State(str(row["run_date"]), _RANK[DEAD], row["failed_at"], DEAD, "", "")


def newest(states: Iterable[State]) -> State:
    """The newest event (night, then kind, then time); associative and commutative, so Beam may
    combine in any order."""
    return max(states, key=lambda state: (state.run_date, state.rank, state.at))


class CommittedState(beam.PTransform):
    """(id, newest State) over the committed files of other nights (column projection: 6 columns read).

    A shuffle rather than a side input: a side input copies every id's state to every
    worker (gigabytes at tens of millions of ids); CombinePerKey spreads them and grows
    with the cluster.
    """

    def __init__(self, record_files: Sequence[str], dead_files: Sequence[str]):
        super().__init__()
        self._record_files = list(record_files)
        self._dead_files = list(dead_files)

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection:
        records = (begin
                   | "RecordFiles" >> beam.Create(self._record_files)
                   | "ReadRecordState" >> ReadAllFromParquet(columns=STATE_COLUMNS)
                   | "RecordState" >> beam.Map(record_state))
        dead = (begin
                | "DeadFiles" >> beam.Create(self._dead_files)
                | "ReadDeadState" >> ReadAllFromParquet(columns=DEAD_STATE_COLUMNS)
                | "WithId" >> beam.Filter(lambda row: row["id"] is not None)
                | "DeadState" >> beam.Map(dead_state))
        return (records, dead) | "AllStates" >> beam.Flatten() | "NewestPerId" >> beam.CombinePerKey(newest)


class SkipDone(beam.PTransform):
    """Keep the prompted records whose id's state is not a row of the same input_hash and model_version."""

    def __init__(self, state: beam.PCollection, model_version: str):
        super().__init__()
        self._state = state
        self._model_version = model_version

    def expand(self, prompted: beam.PCollection) -> beam.PCollection:
        todo = prompted | "KeyPromptById" >> beam.Map(lambda record: (record.id, record))
        return ({"todo": todo, "state": self._state}
                | "JoinState" >> beam.CoGroupByKey()
                | "DropDone" >> beam.ParDo(_DropDone(self._model_version)))


class _DropDone(beam.DoFn):
    def __init__(self, model_version: str):
        self._model_version = model_version
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "records_skipped")

    def process(self, joined: tuple[str, dict[str, Iterable[Any]]]) -> Iterable[PromptedRecord]:
        _, groups = joined
        states = list(groups["state"])
        state = states[0] if states else None
        for record in groups["todo"]:
            if state and state.is_row(record.input_hash, self._model_version):
                self._skipped.inc()
            else:
                yield record


class _Withdraw(beam.DoFn):
    """A withdrawn row for an id whose state is a row but that tonight's input lacks."""

    def __init__(self, schema: pa.Schema, run_date: date, run_id: str, model_version: str):
        self._template = {field.name: _empty(field) for field in schema}
        self._fixed = {"run_date": run_date, "run_id": run_id, "model_version": model_version,
                       WITHDRAWN_FIELD.name: True}

    def process(self, joined: tuple[str, dict[str, Iterable[Any]]]) -> Iterable[dict[str, Any]]:
        record_id, groups = joined
        states = list(groups["state"])
        if states and states[0].is_row() and not list(groups["seen"]):
            yield {**self._template, **self._fixed, "id": record_id, "processed_at": datetime.now(timezone.utc)}


def _empty(field: pa.Field) -> Any:
    """The value of a field a withdrawn row does not have: null where allowed, else the type's empty value."""
    if field.nullable:
        return None
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        return ""
    if pa.types.is_boolean(field.type):
        return False
    if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
        return 0
    if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
        return []
    return None  # timestamps and dates are set by _Withdraw


class StoreRows(beam.DoFn):
    """An output row → the row as the table stores it (``cat.RecordsLayout``), or a dead letter.

    A carried value whose conversion fails (a nanosecond timestamp with a sub-microsecond part)
    makes its row a ``bad_value`` dead letter naming the column: the table cannot hold it, and
    rounding it would change the catalogue's data without a word. Its stage is ``read`` (SPEC §5
    has no later one for input values): the value as read is what cannot be stored.
    """

    def __init__(self, layout: cat.RecordsLayout, run_date: date, run_id: str):
        self._layout = layout
        self._run_date = run_date
        self._run_id = run_id

    def process(self, row: dict[str, Any]) -> Iterable[Any]:
        for name in self._layout.not_stored:
            row.pop(name, None)
        for name, convert in self._layout.conversions.items():
            if row.get(name) is None:
                continue
            try:
                row[name] = convert(row[name])
            except (ValueError, ArithmeticError) as error:
                yield beam.pvalue.TaggedOutput(DEAD_OUTPUT, dead_letter(
                    "read", "bad_value", f"column {name!r}: cannot be stored in the catalogue: {error}", row.get("id"), record_json(row),
                    self._run_id))
                return
        for name, stored in self._layout.renames.items():
            row[stored] = row.pop(name, None)
        row[RUN_DATE_FIELD.name] = self._run_date
        row[WITHDRAWN_FIELD.name] = False
        yield row


@dataclass(frozen=True)
class NightGraph:
    """The backfill's Beam graph for one night: the job's rows, filtered and stored for the catalogue."""

    run_date: date
    reprocess: bool
    layout: cat.RecordsLayout
    state_files: tuple[Sequence[str], Sequence[str]]  # record files, dead-letter files of other nights
    records_folder: str
    dead_letter_folder: str

    def __call__(self, pipeline: beam.Pipeline, plan: JobPlan) -> Written:
        state = pipeline | "CommittedState" >> CommittedState(*self.state_files)
        rows = build_rows(pipeline, plan, None if self.reprocess else SkipDone(state, plan.model_version))
        seen = ((rows.prompted | "PromptedIds" >> beam.Map(lambda record: (record.id, None)),
                 rows.dead_letters
                 | "DeadIds" >> beam.Map(lambda row: (row["id"], None))
                 | "HasId" >> beam.Filter(lambda keyed: keyed[0] is not None))
                | "SeenIds" >> beam.Flatten())
        withdrawn = ({"seen": seen, "state": state}
                     | "JoinSeen" >> beam.CoGroupByKey()
                     | "Withdraw" >> beam.ParDo(_Withdraw(self.layout.schema, self.run_date, plan.run_id,
                                                          plan.model_version)))
        # Compliant lists (``list.element``): Iceberg's name mapping does not know Beam's default ``list.item``.
        parquet = dict(file_name_suffix=".parquet", use_compliant_nested_type=True)
        stored = rows.records | "StoreRows" >> beam.ParDo(
            StoreRows(self.layout, self.run_date, plan.run_id)).with_outputs(DEAD_OUTPUT, main="rows")
        stored.rows | "WriteRecords" >> beam.io.WriteToParquet(f"{self.records_folder}/part", self.layout.schema,
                                                               **parquet)
        withdrawn | "WriteWithdrawn" >> beam.io.WriteToParquet(f"{self.records_folder}/withdrawn",
                                                              self.layout.schema, **parquet)
        ((rows.dead_letters, stored[DEAD_OUTPUT])
         | "WithStoreDeadLetters" >> beam.Flatten()
         | "DeadLetterNight" >> beam.Map(lambda row, night: {**row, RUN_DATE_FIELD.name: night}, self.run_date)
         | "WriteDeadLetter" >> beam.io.WriteToParquet(f"{self.dead_letter_folder}/part", cat.DEAD_LETTER_LAYOUT,
                                                       **parquet))
        return Written(records=f"{self.records_folder}/part-*.parquet",
                       dead_letter=f"{self.dead_letter_folder}/part-*.parquet")


@dataclass(frozen=True)
class BackfillOutcome:
    """What one backfill call did. ``status``: committed, already_committed, not_committed or lost_race."""

    status: str
    run_date: str
    manifest: dict[str, Any]
    summary: str
    snapshot_id: Optional[int] = None  # of backstamp.records holding the night

    @property
    def exit_code(self) -> int:
        return {"committed": EXIT_OK, "already_committed": EXIT_OK, "dropped": EXIT_OK,
                "not_committed": EXIT_NOT_COMMITTED, "lost_race": EXIT_LOST_RACE}[self.status]


def delete_tree(folder: str) -> None:
    """Delete every file under ``folder`` (and the folder, on filesystems with folders)."""
    files = [m.path for m in FileSystems.match([f"{folder}/**"])[0].metadata_list]
    if files:
        FileSystems.delete(files)
    if FileSystems.exists(folder):
        FileSystems.delete([folder])


def remove_orphans(table: cat.Table, run_date: str, before_run_id: str) -> int:
    """Delete the folders of uncommitted runs of ``run_date`` that started before ``before_run_id``; count them.

    Called once this night is committed: a run that started earlier can no longer commit
    it (its base predates our commit), so its files are garbage — e.g. a SIGKILLed run's.
    Folders of committed runs stay (older snapshots still reference them). Such a run may
    still be alive and writing (it reports the lost race when it finds its files gone); a
    folder that changes under the deletion is left to the night's next commit.
    """
    committed = {cat.summary_value(s, cat.SUMMARY_RUN_ID) for s in table.snapshots()}
    night = f"{cat.beam_path(table.location())}/data/run_date={run_date}"
    if "://" in night:  # object stores have no folders: the objects name them
        runs = {m.path[len(night) + 1:].split("/")[0] for m in FileSystems.match([f"{night}/**"])[0].metadata_list}
    else:  # local folders may hold only empty temp folders yet (a run killed early)
        runs = set(os.listdir(night)) if os.path.isdir(night) else set()
    removed = 0
    for folder in sorted(runs):
        run_id = folder.removeprefix("run-")
        if folder.startswith("run-") and run_id not in committed and run_id < before_run_id:
            try:
                delete_tree(f"{night}/{folder}")
            except BeamIOError:
                continue
            removed += 1
    return removed


def _run_date(text: Optional[str], allow_any: bool) -> str:
    """``--run_date`` as ISO text (default today in UTC); outside the plausible nights only with ``allow_any``."""
    today = datetime.now(timezone.utc).date()
    if text is None:
        return today.isoformat()
    try:
        night = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--run_date {text!r}: expected YYYY-MM-DD") from None
    if not allow_any and not EARLIEST_NIGHT <= night <= today + RUN_DATE_MARGIN:
        raise InputError(f"--run_date {text}: outside {EARLIEST_NIGHT.isoformat()} .. "
                         f"{(today + RUN_DATE_MARGIN).isoformat()} (today in UTC + {RUN_DATE_MARGIN.days} day); "
                         "a typo night would outrank every real one. Pass --allow_any_run_date if it is meant")
    return night.isoformat()


def drop_night(catalog: cat.Catalog, run_date: str) -> BackfillOutcome:
    """Remove ``run_date`` from both tables (``--drop_night``); earlier snapshots keep it for time travel."""
    dropped = {name: cat.drop_night(catalog, name, run_date) for name in (cat.RECORDS, cat.DEAD_LETTER)}
    if dropped[cat.RECORDS] is None and dropped[cat.DEAD_LETTER] is None:
        raise InputError(f"--drop_night: run_date={run_date} has no committed rows in {cat.RECORDS} or "
                         f"{cat.DEAD_LETTER}; nothing dropped")
    removed = ", ".join(f"{n} rows from {name}" for name, n in dropped.items() if n is not None)
    return BackfillOutcome("dropped", run_date, {}, redact(
        f"run_date={run_date} dropped: {removed}; latest now serves each id's row of the other nights "
        "(earlier snapshots still hold the night: latest --as_of SNAPSHOT)"))


def _night_counts(records: cat.Table, dead_letter: Optional[cat.Table], run_date: str,
                  records_snapshot: int, dead_snapshot: Optional[int]) -> dict[str, int]:
    """Rows of the night as the committed snapshots hold them (a scan of the data files, not counters)."""
    withdrawn = records.scan(row_filter=cat.night_filter(run_date), snapshot_id=records_snapshot,
                             selected_fields=(WITHDRAWN_FIELD.name,)).to_arrow().column(0).to_pylist()
    dead = 0
    if dead_letter is not None and dead_snapshot is not None:
        dead = dead_letter.scan(row_filter=cat.night_filter(run_date), snapshot_id=dead_snapshot,
                                selected_fields=("id",)).to_arrow().num_rows
    return {"written": withdrawn.count(False), "withdrawn": withdrawn.count(True), "dead_lettered": dead}


def _complete_dead_letters(catalog: cat.Catalog, night: cat.Snapshot, run_date: str) -> Optional[int]:
    """Commit the dead letters of a committed night if a crash came between its two commits; their snapshot."""
    run_id = cat.summary_value(night, cat.SUMMARY_RUN_ID)
    table = cat.load_or_create(catalog, cat.DEAD_LETTER, cat.DEAD_LETTER_LAYOUT)
    done = next((s for s in cat.ancestors(table) if cat.summary_value(s, cat.SUMMARY_RUN_ID) == run_id), None)
    if done is not None:
        return done.snapshot_id
    files = [p for p, n in rows_per_file(f"{cat.run_folder(table, run_date, run_id)}/part-*.parquet").items() if n]
    current = table.current_snapshot()
    return cat.commit_night(catalog, cat.DEAD_LETTER, current.snapshot_id if current else None, run_date, run_id,
                            files, cat.DEAD_LETTER_LAYOUT, {}).snapshot_id


def run_backfill(argv: Sequence[str]) -> BackfillOutcome:
    """Run one night of the backfill described by ``argv`` (our flags, backfill flags and Beam's)."""
    configure_redaction(argv)
    pipeline_options = PipelineOptions(list(argv))
    options = pipeline_options.view_as(BackstampOptions)
    backfill = pipeline_options.view_as(BackfillOptions)
    if not options.output:
        raise InputError("--output WAREHOUSE is required")
    run_date = _run_date(backfill.run_date, allow_any=backfill.allow_any_run_date or backfill.drop_night)
    warehouse = cat.resolve_warehouse(options.output, backfill.catalog_uri, create=not backfill.drop_night)
    catalog = cat.open_catalog(warehouse)
    options.run_id = options.run_id or new_run_id()
    if backfill.drop_night:
        cat.check_writable(catalog, options.run_id)
        return drop_night(catalog, run_date)
    records = cat.load_table(catalog, cat.RECORDS)
    night = cat.committed_night(records, run_date)
    store = decisions_catalog.open_store(warehouse, backfill.store)
    if night is not None and not backfill.reprocess:
        dead_snapshot = _complete_dead_letters(catalog, night, run_date)
        decisions_catalog.commit_pending(catalog, store)  # a crash after the night's first commit
        dead_letter = cat.load_table(catalog, cat.DEAD_LETTER)
        counts = _night_counts(records, dead_letter, run_date, night.snapshot_id, dead_snapshot)
        return BackfillOutcome(
            "already_committed", run_date, {}, redact(
                f"run_date={run_date} is already committed (run {cat.summary_value(night, cat.SUMMARY_RUN_ID)}, "
                f"snapshot {night.snapshot_id}: {counts['written']} written, {counts['dead_lettered']} dead-lettered, "
                f"{counts['withdrawn']} withdrawn); nothing changed. Use --reprocess to replace it."),
            night.snapshot_id)

    cat.check_writable(catalog, options.run_id)  # a read-only catalog would fail only at the commit
    plan = plan_job(options)  # input and model checked before any table is created
    layout = cat.records_layout(records.schema() if records else None, plan.inputs.carried_schema)
    records = cat.load_or_create(catalog, cat.RECORDS, layout.schema)
    dead_letter = cat.load_or_create(catalog, cat.DEAD_LETTER, cat.DEAD_LETTER_LAYOUT)
    bases = [t.current_snapshot().snapshot_id if t.current_snapshot() else None for t in (records, dead_letter)]
    watermark = decisions_catalog.watermark_summary(store)  # the decisions this night will hold
    graph = NightGraph(
        run_date=date.fromisoformat(run_date), reprocess=backfill.reprocess, layout=layout,
        state_files=(cat.other_nights(records, run_date), cat.other_nights(dead_letter, run_date)),
        records_folder=cat.run_folder(records, run_date, plan.run_id),
        dead_letter_folder=cat.run_folder(dead_letter, run_date, plan.run_id))
    manifest: Optional[Manifest] = None
    try:
        manifest = execute(pipeline_options, plan, graph)
        record_files = rows_per_file(f"{graph.records_folder}/*.parquet")
        dead_files = rows_per_file(f"{graph.dead_letter_folder}/*.parquet")
        empty = [path for path, n in {**record_files, **dead_files}.items() if n == 0]
        if empty:  # Beam's sinks write one empty shard when there is nothing; it has no run_date to partition by
            FileSystems.delete(empty)
        withdrawn = sum(n for path, n in record_files.items() if path.rsplit("/", 1)[-1].startswith("withdrawn-"))
        manifest = dataclasses.replace(manifest, output=warehouse.location, extra={
            **manifest.extra, "run_date": run_date, "reprocess": backfill.reprocess, "records_withdrawn": withdrawn,
            "stored_as": layout.renames, "not_stored": list(layout.not_stored), "earlier_files": len(graph.state_files[0]) + len(graph.state_files[1])})
        if not manifest.count_invariant_holds:
            if lost := cat.rival_commit(catalog.load_table(cat.RECORDS), bases[0], run_date):
                raise lost  # a rival's commit removed files this run had written (remove_orphans)
            return BackfillOutcome("not_committed", run_date, _as_dict(manifest), redact(
                format_summary(manifest) + f"\n  NOT committed: the counts disagree; files left in "
                f"{graph.records_folder} for inspection (removed by the night's next commit)"))

        snapshot = cat.commit_night(catalog, cat.RECORDS, bases[0], run_date, plan.run_id,
                                    [p for p, n in record_files.items() if n], layout.schema,
                                    {**_snapshot_summary(manifest), **watermark})
    except Exception as error:
        # The winner of a race removes the folders of earlier uncommitted runs (remove_orphans), so a
        # loser can fail anywhere from writing its files to adding them: that failure is the lost race.
        lost = error if isinstance(error, cat.LostRace) else cat.rival_commit(
            catalog.load_table(cat.RECORDS), bases[0], run_date)
        if lost is None:
            raise
        delete_tree(graph.records_folder)
        delete_tree(graph.dead_letter_folder)
        return BackfillOutcome("lost_race", run_date, _as_dict(manifest) if manifest else {}, redact(
            f"NOT committed: {lost}; this run's files were removed and the table is as the other run left it "
            f"(exit code {EXIT_LOST_RACE})"))
    try:
        dead_snapshot: Optional[int] = cat.commit_night(
            catalog, cat.DEAD_LETTER, bases[1], run_date, plan.run_id,
            [p for p, n in dead_files.items() if n], cat.DEAD_LETTER_LAYOUT, _snapshot_summary(manifest)).snapshot_id
    except cat.LostRace:  # a later --reprocess of this night replaced it already; its dead letters stand
        dead_snapshot = None
    decided = decisions_catalog.commit_pending(catalog, store)
    records, dead_letter = catalog.load_table(cat.RECORDS), catalog.load_table(cat.DEAD_LETTER)
    orphans = remove_orphans(records, run_date, plan.run_id) + remove_orphans(dead_letter, run_date, plan.run_id)
    counts = _night_counts(records, dead_letter, run_date, snapshot.snapshot_id, dead_snapshot)
    committed = dataclasses.replace(
        manifest, records_written=counts["written"], records_dead_lettered=counts["dead_lettered"],
        extra={**manifest.extra, "records_withdrawn": counts["withdrawn"], "orphan_runs_removed": orphans,
               "snapshot_id": snapshot.snapshot_id, "dead_letter_snapshot_id": dead_snapshot,
               "decisions": decisions_catalog.night_figures(decided, watermark)})
    return BackfillOutcome("committed", run_date, _as_dict(committed), redact(
        format_summary(committed)
        + f"\n  committed             run_date={run_date}, snapshot {snapshot.snapshot_id} of {cat.RECORDS}"
          f" (written and dead-lettered counted from the committed files; {counts['withdrawn']} withdrawn)"
        + decisions_catalog.summary_line(committed.extra["decisions"])),
        snapshot.snapshot_id)


def _as_dict(manifest: Manifest) -> dict[str, Any]:
    return json.loads(manifest.to_json())


def _snapshot_summary(manifest: Manifest) -> dict[str, str]:
    """The manifest's figures as snapshot-summary strings (redacted, like the manifest itself)."""
    figures = {"records_read": manifest.records_read, "records_written": manifest.records_written,
               "records_dead_lettered": manifest.records_dead_lettered,
               "records_skipped": manifest.records_skipped,
               "records_withdrawn": manifest.extra["records_withdrawn"], "model_version": manifest.model_version}
    summary = {f"backstamp.{key}": str(value) for key, value in figures.items()}
    summary["backstamp.manifest"] = manifest.to_json()
    return summary


def print_backfill_help() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline backfill",
        description="Process the records that changed since their newest committed row and commit the night "
                    "into the Iceberg tables backstamp.records and backstamp.dead_letter under --output "
                    "(docs/backfill.md). Exit codes: 0 committed or already committed, 1 counts disagree "
                    "(nothing committed), 2 bad input or options, 3 an unforeseen error, 4 another run committed "
                    "this night first (nothing committed).",
        epilog="Every option of `python -m pipeline run --help` applies too (model, engine, batching, "
               "Beam's runner options); --output is the WAREHOUSE (a folder or gs://).",
        conflict_handler="resolve",
    )
    BackfillOptions._add_argparse_args(parser)  # the documented way options declare their flags
    BackstampOptions._add_argparse_args(parser)
    parser.print_help()


@redacted_cli  # secrets of argv (tokens, signed URLs, a catalog password) stay out of every message
def main(argv: Sequence[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print_backfill_help()
        return EXIT_OK
    try:
        outcome = run_backfill(argv)
    except (InputError, FileNotFoundError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(outcome.summary, file=sys.stdout if outcome.exit_code == EXIT_OK else sys.stderr)
    return outcome.exit_code


if __name__ == "__main__":  # `python -m pipeline.backfill`, for launchers that take one module (Airflow's -m)
    sys.exit(main(sys.argv[1:]))
