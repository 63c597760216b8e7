"""``python -m pipeline COMMAND ...``: the job's command line (SPEC §7)."""
from __future__ import annotations

import sys
from typing import Callable, Sequence

USAGE = """usage: python -m pipeline COMMAND [options]

commands:
  run       process OCR records into catalogue fields (python -m pipeline run --help)
  evaluate  score predictions against labels          (python -m pipeline evaluate --help)
  backfill  nightly run committed into the Iceberg catalogue tables (python -m pipeline backfill --help)
  latest    each id's newest row of a backfill warehouse  (python -m pipeline latest --help)
  review    write a run's review queue as Parquet       (python -m pipeline review --help)
  report    write a run's HTML review report            (python -m pipeline report --help)
  thresholds  choose review thresholds from people's decisions (python -m pipeline thresholds --help)
  review-history  precision and review share over a warehouse's nights (python -m pipeline review-history --help)
  workbench serve the review queue to cataloguers in a browser (python -m pipeline workbench --help)
  decisions import or export review decisions         (python -m pipeline decisions --help)
"""


def _run(argv: Sequence[str]) -> int:
    from pipeline.job import main

    if "-h" in argv or "--help" in argv:
        from pipeline.cli_help import print_run_help

        print_run_help()
        return 0
    return main(argv)


def _evaluate(argv: Sequence[str]) -> int:
    if "--decisions" in argv:  # figures from people's decisions (SPEC §9), beside the labels' when given
        from pipeline.decision_commands import evaluate_main

        return evaluate_main(argv)
    from formats.evaluate import main

    return main(argv)


def _thresholds(argv: Sequence[str]) -> int:
    from pipeline.decision_commands import thresholds_main

    return thresholds_main(argv)


def _review_history(argv: Sequence[str]) -> int:
    from pipeline.decision_commands import history_main

    return history_main(argv)


def _backfill(argv: Sequence[str]) -> int:
    from pipeline.backfill import main

    return main(argv)


def _latest(argv: Sequence[str]) -> int:
    from pipeline.latest import main

    return main(argv)


def _review(argv: Sequence[str]) -> int:
    from pipeline.review import main

    return main(argv)


def _report(argv: Sequence[str]) -> int:
    from pipeline.report import main

    return main(argv)


def _workbench(argv: Sequence[str]) -> int:
    from workbench.cli import main

    return main(argv)


def _decisions(argv: Sequence[str]) -> int:
    from workbench.decisions_cli import main

    return main(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {"run": _run, "evaluate": _evaluate, "backfill": _backfill,
                                                       "latest": _latest, "review": _review, "report": _report,
                                                       "workbench": _workbench, "decisions": _decisions}

COMMANDS["thresholds"] = _thresholds
COMMANDS["review-history"] = _review_history


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
