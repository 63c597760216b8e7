"""``--help`` for ``python -m pipeline run``: Backstamp's flags first, then every Beam option."""
from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import BackstampOptions


def print_run_help() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline run",
        description="Turn press-photo OCR records (Parquet) into catalogue fields with a GPT-J.",
        conflict_handler="resolve",
    )
    BackstampOptions._add_argparse_args(parser)  # the documented way options declare their flags
    for options_class in PipelineOptions.__subclasses__():
        if options_class is not BackstampOptions:
            options_class._add_argparse_args(parser)
    parser.print_help()
