"""The Backstamp Beam job around the formats (``formats/``) and the model (``model/``): docs/ARCHITECTURE.md.

Only ``pipeline.inference`` (Beam's ``RunInference`` side) loads torch; the I/O modules, the
job's planning, the backfill and ``latest`` do not (tests/test_layering.py).
"""
