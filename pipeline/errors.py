"""The job's user-facing error, in a module that loads nothing: the catalogue readers (``pipeline.catalog``,
``pipeline.latest``) raise it without loading Beam, so the workbench can read ``latest`` Beam-free."""
from __future__ import annotations


class InputError(Exception):
    """The input cannot be processed; the message is one line for the user."""
