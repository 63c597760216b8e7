"""The review queue (SPEC §5b): the records a person should check, worst first, with their OCR.

Beam-free, so that ``pipeline review`` (the queue as Parquet), ``pipeline report`` (as HTML)
and the workbench (as web pages) build one and the same queue.

A run's output does not hold the OCR it was made from (the job consumes the OCR columns;
only other input columns are carried), yet a person cannot judge a field without it. The
OCR is therefore joined back by id from the run's input: ``--input GLOB`` when given, else
the input glob the run recorded in ``manifest.json`` (with the id/front/back column names
it recorded). Lines are cleaned as the job cleaned them (``formats.prompt``), so line N of
``back_ocr_lines`` is the line a ``<field>_source`` of ``back:N`` points to.

The joined row is the one the job kept: rows are read and validated as the job reads them
(``formats.arrow_rows``, ``formats.records``), and of an id's valid rows the one whose JSON sorts
first (``KeepOnePerId``). Since the input may have been rewritten since the run, each joined
row is checked against the output's ``input_hash``: ``ocr_status`` is ``as_run`` when its OCR
gives the prompt the model saw, ``changed`` when it does not (the fields were generated from
other OCR than the lines shown), ``not_found`` when the input has no valid row of the id, and
``unchecked`` for a run that recorded no ``input_hash``.

Order: records whose review fields have the lowest confidence first. A record without any
confidence (unparsed, or looping before any field) comes before all others, since the job
can vouch for nothing in it; ties by more fields to review, then by id.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Collection, Iterator, Mapping, Sequence

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from formats.arrow_rows import table_rows
from formats.evaluate import EXACT_FIELDS, parquet_paths
from formats.prompt import (MAX_CHARS_PER_LINE, MAX_LINES, MAX_TOTAL_CHARS, _clean_and_cap, _Side, build_prompt,
                            prompt_hash)
from formats.records import ColumnNames, ValidRecord, record_json, validate_row
from formats.spot_checks import DEFAULT_SPOT_CHECK_SEED, is_spot_check
from formats.tags import FIELDS

QUEUE_COLUMNS = ("queue_position", "lowest_confidence")
OCR_COLUMNS = ("back_ocr_lines", "front_ocr_lines", "ocr_found", "ocr_status")
AS_RUN, CHANGED, NOT_FOUND, UNCHECKED = "as_run", "changed", "not_found", "unchecked"
REVIEW_COLUMNS = ("needs_review", "review_fields", "review_reasons")


class ReviewError(Exception):
    """A run or input that cannot give a review queue; the message says what to do."""


@dataclass(frozen=True)
class Run:
    """A finished run's output folder: its written records and its manifest (None if absent)."""

    path: str
    records: pa.Table
    manifest: dict[str, Any] | None


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def load_run(path: str) -> Run:
    """Read ``path/records/*.parquet`` and ``path/manifest.json``.

    Raises ReviewError when there are no records or they lack the §5b review columns
    (a run of a job from before field trust has nothing to route).
    """
    try:
        fs, paths = parquet_paths(join(path, "records", "*.parquet"))
    except FileNotFoundError:
        raise ReviewError(f"no records under {join(path, 'records')}: is {path!r} a run's --output folder?") from None
    records = pa.concat_tables([pq.read_table(p, filesystem=fs) for p in paths], promote_options="default")
    missing = [c for c in REVIEW_COLUMNS if c not in records.column_names]
    if missing:
        raise ReviewError(f"the records under {path!r} lack {', '.join(missing)} (SPEC §5b): they were written by "
                          "a job without field trust; rerun them with the current job")
    manifest = None
    manifest_path = join(path, "manifest.json")
    manifest_fs, manifest_file = fsspec.core.url_to_fs(manifest_path)
    if manifest_fs.exists(manifest_file):
        with manifest_fs.open(manifest_file, "r") as handle:
            manifest = json.load(handle)
    return Run(path, records, manifest)


def run_options(manifest: Mapping[str, Any] | None) -> tuple[ColumnNames, str]:
    """The input column names and default language the run used (the manifest records only options that
    differ from the defaults)."""
    options = (manifest or {}).get("options") or {}
    default = ColumnNames()
    return (ColumnNames(id=options.get("id_column", default.id), front=options.get("front_column", default.front),
                        back=options.get("back_column", default.back),
                        language=options.get("language_column", default.language)),
            options.get("default_language", "en"))


def read_kept(pattern: str, ids: set[str], columns: ColumnNames = ColumnNames(),
              default_language: str = "en") -> dict[str, ValidRecord]:
    """The row the job kept for each of the ``ids`` found in the input files of ``pattern``.

    Rows are read and validated as the job reads them, so a row the job dead-lettered is never
    joined; of an id's valid rows the one whose JSON sorts first is kept, as ``KeepOnePerId`` does.
    """
    fs, paths = parquet_paths(pattern)
    wanted = pa.array(sorted(ids), pa.string())
    kept: dict[str, tuple[str, ValidRecord]] = {}
    for path in paths:
        if columns.id not in pq.read_schema(path, filesystem=fs).names:
            continue
        table = pq.read_table(path, filesystem=fs)
        ids_column = table.column(columns.id)
        if not pa.types.is_string(ids_column.type):
            ids_column = ids_column.cast(pa.string(), safe=False)
        for row, problems in table_rows(table.filter(pc.is_in(ids_column, value_set=wanted)), columns):
            record = None if problems else validate_row(row, columns, default_language)
            if isinstance(record, ValidRecord):
                key = record_json(record.raw)
                if record.id not in kept or key < kept[record.id][0]:
                    kept[record.id] = (key, record)
    return {record_id: record for record_id, (_, record) in kept.items()}


def run_special_tokens(manifest: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The special tokens the run's workers neutralised in the OCR (its manifest's ``extra``; none recorded
    by runs before it did, whose GPT-J tokenizer's only one, ``<|endoftext|>``, is neutralised anyway)."""
    return tuple(((manifest or {}).get("extra") or {}).get("special_tokens") or ())


def possible_prompts(record: ValidRecord, special_tokens: Collection[str] = ()) -> Iterator[str]:
    """Every prompt ``fit_prompt`` can build from ``record``, whatever the budget: the whole (capped)
    prompt first, then each character level it may cut both sides to (see ``fit_prompt``);
    ``special_tokens``: the run's tokenizer's (``run_special_tokens``), neutralised as the job did."""
    back, _ = _clean_and_cap(record.back_lines, MAX_LINES, MAX_CHARS_PER_LINE, MAX_TOTAL_CHARS, special_tokens)
    front, _ = _clean_and_cap(record.front_lines, MAX_LINES, MAX_CHARS_PER_LINE, MAX_TOTAL_CHARS, special_tokens)
    yield build_prompt(back, front, record.language, special_tokens)
    sides = [_Side(back), _Side(front)]
    levels = {0}
    for side in sides:
        levels.update(side.joined)
        levels.update(range(1, len(side.lines[0]) + 1) if side.lines else ())
    for level in sorted(levels, reverse=True):
        yield build_prompt(*(side.at_level(level) for side in sides), record.language, special_tokens)


def ocr_status(record: ValidRecord | None, output: Mapping[str, Any], special_tokens: Collection[str] = ()) -> str:
    """Whether ``record`` (the joined input row) is what the model saw for ``output`` (see the module docstring).

    Only a truncated output needs the cut prompts: an untruncated one was the whole prompt.
    """
    if record is None:
        return NOT_FOUND
    if not output.get("input_hash"):
        return UNCHECKED
    prompts = possible_prompts(record, special_tokens)
    candidates = prompts if output.get("truncated") else [next(prompts)]
    return AS_RUN if any(prompt_hash(text) == output["input_hash"] for text in candidates) else CHANGED


def ocr_for(run: Run, input_glob: str | None, every_record: bool = False) -> dict[str, ValidRecord]:
    """The input rows the job kept for the run's records that need review (``every_record``: for all its
    records, as a queue with spot checks needs), from ``input_glob`` or the manifest's input."""
    pattern = input_glob or (run.manifest or {}).get("input")
    if not pattern:
        raise ReviewError(f"{run.path!r} has no manifest naming its input: pass --input GLOB (or --without_ocr)")
    ids = set((run.records if every_record else needing_review(run.records)).column("id").to_pylist())
    try:
        return read_kept(pattern, ids, *run_options(run.manifest))
    except (FileNotFoundError, OSError) as error:
        raise ReviewError(f"cannot read the run's input {pattern!r} for the OCR ({error}): "
                          "pass --input GLOB where it is now (or --without_ocr)") from None


def needing_review(records: pa.Table) -> pa.Table:
    return records.filter(pc.fill_null(records.column("needs_review"), False))


def lowest_confidence(row: Mapping[str, Any]) -> float | None:
    """The lowest confidence among the row's review fields, else among all its fields; None when none has one."""
    def lowest(fields: Sequence[str]) -> float | None:
        values = [row.get(f"{field}_confidence") for field in fields]
        values = [v for v in values if v is not None]
        return min(values) if values else None

    review = [f for f in row.get("review_fields") or [] if f in EXACT_FIELDS]
    found = lowest(review)
    return found if found is not None else lowest(EXACT_FIELDS)


def spot_check_fields(records: pa.Table, rate: float, seed: str = DEFAULT_SPOT_CHECK_SEED) -> list[list[str]]:
    """Per row, the accepted fields (not in ``review_fields``, not already decided: ``<field>_origin`` is
    ``reviewer`` where ``latest`` served a decision) drawn as spot checks (``formats.spot_checks``)."""
    if rate <= 0:
        return [[] for _ in range(records.num_rows)]
    columns = [c for c in ("id", "input_hash", "review_fields", *(f"{f}_origin" for f in FIELDS))
               if c in records.column_names]
    drawn = []
    for row in records.select(columns).to_pylist():
        accepted = [f for f in FIELDS if f not in (row.get("review_fields") or ())
                    and row.get(f"{f}_origin") != "reviewer"]
        drawn.append([f for f in accepted if is_spot_check(row["id"], f, row.get("input_hash") or "", rate, seed)])
    return drawn


def review_queue(records: pa.Table, ocr: Mapping[str, ValidRecord] | None, spot_check_rate: float = 0.0,
                 spot_check_seed: str = DEFAULT_SPOT_CHECK_SEED, special_tokens: Collection[str] = ()) -> pa.Table:
    """The records needing review, worst first, with ``queue_position`` (from 1), ``lowest_confidence``
    and, when ``ocr`` is given, the cleaned OCR lines of each side, whether the id was found and the
    ``ocr_status`` of its row (``special_tokens``: the run's, ``run_special_tokens``). With
    ``spot_check_rate`` > 0, also the records with an accepted field drawn as a spot check (SPEC §9),
    after those needing review; ``spot_check_fields`` names them."""
    spot = spot_check_fields(records, spot_check_rate, spot_check_seed)
    records = records.append_column("spot_check_fields", pa.array(spot, pa.list_(pa.string())))
    queue = records.filter(pc.or_(pc.fill_null(records.column("needs_review"), False),
                                  pc.greater(pc.list_value_length(records.column("spot_check_fields")), 0)))
    keys = queue.select([c for c in ("id", "needs_review", "review_fields", "input_hash", "truncated",
                                     *(f"{f}_confidence" for f in EXACT_FIELDS))
                         if c in queue.column_names]).to_pylist()
    lowest = [lowest_confidence(row) for row in keys]
    order = sorted(range(len(keys)), key=lambda i: (not keys[i]["needs_review"], lowest[i] is not None,
                                                    lowest[i] or 0.0, -len(keys[i].get("review_fields") or []),
                                                    keys[i]["id"]))
    queue = queue.take(pa.array(order, pa.int64()))
    ids = [keys[i]["id"] for i in order]
    columns = {"queue_position": pa.array(range(1, len(order) + 1), pa.int32()),
               "lowest_confidence": pa.array([lowest[i] for i in order], pa.float64())}
    table = pa.table({**columns, **{name: queue.column(name) for name in queue.column_names}})
    if ocr is not None:
        joined = [ocr.get(i) for i in ids]
        table = table.append_column("back_ocr_lines", pa.array([r and list(r.back_lines) for r in joined],
                                                               pa.list_(pa.string())))
        table = table.append_column("front_ocr_lines", pa.array([r and list(r.front_lines) for r in joined],
                                                                pa.list_(pa.string())))
        table = table.append_column("ocr_found", pa.array([r is not None for r in joined], pa.bool_()))
        table = table.append_column("ocr_status", pa.array([ocr_status(r, keys[i], special_tokens)
                                                            for r, i in zip(joined, order)],
                                                           pa.string()))
    return table


def build_queue(run_path: str, input_glob: str | None = None, with_ocr: bool = True) -> tuple[Run, pa.Table]:
    """Load the run and its queue (with OCR unless ``with_ocr`` is False)."""
    run = load_run(run_path)
    return run, review_queue(run.records, ocr_for(run, input_glob) if with_ocr else None,
                             special_tokens=run_special_tokens(run.manifest))

