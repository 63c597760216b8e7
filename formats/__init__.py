"""Backstamp's formats: the contracts of SPEC §2–§5b as plain Python.

The bottom layer. Imports neither Beam nor torch, so `model/`, `pipeline/` and `train/` can all
share one definition of the prompt, the tags, the parser, the schemas and the scores.
"""
