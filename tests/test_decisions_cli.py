"""``python -m pipeline decisions import|export`` (SPEC §9): validated like the API, all or nothing; the export
in the §9 columns; ``--training`` rows that ``python -m train --reviewed_file`` reads."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from decisions import DecisionStore
from pipeline.__main__ import main
from tests.review_run import BACK, FRONT

FIELDS = ("description", "title", "agency", "photographer", "date")


def write_csv(path, lines: list[str]) -> str:
    path.write_text("\n".join(["id,field,decision,value,reviewer,note", *lines]) + "\n", encoding="utf-8")
    return str(path)


def test_import_stores_a_valid_file_and_csv_empties_mean_what_a_person_means(workbench_run, tmp_path, capsys):
    source = write_csv(tmp_path / "d.csv", ["r-title,title,accept,,ann,", "r-agency,agency,correct,,ann,no agency",
                                            "r-date,date,unreadable,,bob,torn corner"])
    assert main(["decisions", "import", source, "--run", str(workbench_run)]) == 0
    assert "3 decisions" in capsys.readouterr().out
    stored = {d.id: d for d in DecisionStore(str(workbench_run / "reviews.db")).history()}
    assert stored["r-title"].value == "WILLIAM DOIG"  # accept: the job's value
    assert stored["r-agency"].value == ""  # correct with an empty cell: the print names none
    assert stored["r-date"].value is None and stored["r-date"].note == "torn corner"


def test_import_is_all_or_nothing_and_names_the_first_bad_decision(workbench_run, tmp_path, capsys):
    source = write_csv(tmp_path / "d.csv", ["r-title,title,accept,,ann,", "r-title,title,approve,,ann,",
                                            "nope,title,accept,,ann,"])
    assert main(["decisions", "import", source, "--run", str(workbench_run)]) == 2
    assert "nothing stored: decision 1: bad decision 'approve'" in capsys.readouterr().err
    assert DecisionStore(str(workbench_run / "reviews.db")).history() == []


def test_import_refuses_a_column_that_is_not_a_decisions(workbench_run, tmp_path, capsys):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ["r-title"], "field": ["title"], "decision": ["accept"], "colour": ["red"]}), path)
    assert main(["decisions", "import", str(path), "--run", str(workbench_run)]) == 2
    assert "unknown column 'colour'" in capsys.readouterr().err


def test_export_writes_the_history_in_the_spec_columns_and_reimports(workbench_run, tmp_path):
    store = str(tmp_path / "team.db")
    source = write_csv(tmp_path / "d.csv", ["r-title,title,accept,,ann,", "r-title,title,correct,Doig,bob,"])
    assert main(["decisions", "import", source, "--run", str(workbench_run), "--store", store]) == 0
    assert main(["decisions", "export", "--run", str(workbench_run), "--store", store,
                 "--to", str(tmp_path / "all.parquet")]) == 0
    exported = pq.read_table(tmp_path / "all.parquet")
    assert exported.column_names == ["seq", "id", "field", "decision", "value", "model_value", "model_confidence",
                                     "input_hash", "model_version", "run_id", "kind", "reviewer", "note",
                                     "decided_at"]
    assert exported.column("decision").to_pylist() == ["accept", "correct"]
    assert main(["decisions", "export", "--run", str(workbench_run), "--store", store, "--holding",
                 "--to", str(tmp_path / "holding.parquet")]) == 0
    assert pq.read_table(tmp_path / "holding.parquet").column("value").to_pylist() == ["Doig"]
    # An exported file goes back in (into another store): its computed columns are recomputed, not trusted.
    assert main(["decisions", "import", str(tmp_path / "all.parquet"), "--run", str(workbench_run),
                 "--store", str(tmp_path / "other.db")]) == 0
    assert len(DecisionStore(str(tmp_path / "other.db")).history()) == 2


def test_training_export_holds_only_records_with_all_five_fields_decided(workbench_run, tmp_path):
    lines = [f"r-title,{field},accept,,ann," for field in FIELDS if field != "title"]
    lines += ["r-title,title,correct,William Doig,ann,"]
    lines += ["r-agency,agency,correct,Keystone,ann,", "r-agency,title,accept,,ann,"]  # only two of five
    lines += [f"r-date,{field},accept,,ann," for field in FIELDS if field != "date"] + ["r-date,date,unreadable,,ann,"]
    assert main(["decisions", "import", write_csv(tmp_path / "d.csv", lines), "--run", str(workbench_run)]) == 0
    to = tmp_path / "training.parquet"
    assert main(["decisions", "export", "--run", str(workbench_run), "--to", str(to), "--training"]) == 0
    rows = {row["id"]: row for row in pq.read_table(to).to_pylist()}
    assert set(rows) == {"r-date", "r-title"}
    assert rows["r-title"]["title"] == "William Doig" and rows["r-title"]["agency"] == "Keystone"
    assert rows["r-title"]["back_ocr"] == BACK and rows["r-title"]["front_ocr"] == FRONT
    assert rows["r-date"]["date"] == "" and rows["r-date"]["language"] == "en"


def test_training_rows_are_what_train_reads(workbench_run, tmp_path):
    from train.data import read_samples

    lines = [f"r-title,{field},accept,,ann," for field in FIELDS]
    assert main(["decisions", "import", write_csv(tmp_path / "d.csv", lines), "--run", str(workbench_run)]) == 0
    to = tmp_path / "training.parquet"
    assert main(["decisions", "export", "--run", str(workbench_run), "--to", str(to), "--training"]) == 0
    [sample] = read_samples(str(to), None, "en")
    assert sample.id == "r-title" and sample.back_lines == tuple(BACK) and sample.front_lines == tuple(FRONT)
    assert sample.fields["title"] == "WILLIAM DOIG" and sample.fields["agency"] == "Keystone"
