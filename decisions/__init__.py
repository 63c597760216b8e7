"""Review decisions (SPEC §9): what a decision is, its validation, and the SQL store that keeps them all.

Below the web layer (``workbench``) and beside ``formats``: no Beam, no torch. The public API::

    from decisions import (Decision, DecisionError, DecisionStore, StoreError, validate,
                           store_uri_for_run, store_uri_for_warehouse, FIELDS, DECISIONS, KINDS)
"""
from decisions.model import (ACCEPT, CORRECT, DECISIONS, FIELDS, KINDS, REVIEW, SPOT_CHECK, UNREADABLE, Decision,
                             DecisionError, validate)
from decisions.store import (DEFAULT_CLAIM_MINUTES, DecisionStore, StoreError, default_store_uri, engine_url,
                             store_uri_for_run, store_uri_for_warehouse)

__all__ = ["ACCEPT", "CORRECT", "DECISIONS", "DEFAULT_CLAIM_MINUTES", "FIELDS", "KINDS", "REVIEW", "SPOT_CHECK",
           "UNREADABLE", "Decision", "DecisionError", "DecisionStore", "StoreError", "default_store_uri", "engine_url", "validate",
           "store_uri_for_run", "store_uri_for_warehouse"]
