"""Beam counters' namespace and the dead-letter output that every DoFn shares.

Kept apart from the model handler so that plain I/O modules (read, backfill, latest) can
count and dead-letter rows without importing torch.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from apache_beam.metrics import Metrics

from formats.schemas import dead_letter_row
from pipeline.redaction import redact

METRICS_NAMESPACE = "backstamp"
DEAD = "dead"  # the tagged output that carries dead-letter rows


def dead_letter(stage: str, reason: str, detail: str, record_id: Optional[str], raw_json: str,
                run_id: str) -> dict[str, Any]:
    """One dead-letter row (SPEC §5); the counter lets the summary show reasons while running."""
    Metrics.counter(METRICS_NAMESPACE, f"dead_{reason}").inc()
    return dead_letter_row(record_id=record_id, stage=stage, reason=reason, detail=redact(detail[:2000]),
                           record_json=raw_json, run_id=run_id, failed_at=datetime.now(timezone.utc))
