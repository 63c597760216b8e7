"""The review workbench (SPEC §9): a web app where cataloguers work through a run's or a warehouse's
review queue by keyboard, each decision stored when made (``decisions``).

The web layer: it imports ``formats`` (the queue, one record's HTML) and ``decisions`` (the
store), pyarrow and pyiceberg for reading; never Beam, torch or the model.
``python -m pipeline workbench --help`` starts it (``workbench.cli``).
"""
