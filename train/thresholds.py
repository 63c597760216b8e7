"""Review thresholds that travel with the checkpoint (SPEC §5b, issue 27).

Thresholds chosen for one model mean nothing for another: a confidence of 0.8 from the demo GPT-J
and from a LoRA-tuned SmolLM2 are different things. So training chooses them for the model it
trained, on its synthetic held-out split (names and places never seen in training), and writes
them into the checkpoint's ``backstamp.json`` under ``"review"``, which the job reads
(``formats.thresholds``: an option or ``--review_config`` still overrides, and the manifest says
which source each threshold came from). The choice is ``bench.confidence``'s (``collect`` rows
the job's routing, ``choose`` the lowest threshold from ``floor`` up whose accepted values reach
``target``), so training and the measurement agree by construction; the realistic set only
measures them (``bench/demos.py``).

    python -m train.thresholds --model data/models/demo-smollm2 [--n 200] [--seed 1] [--target 0.98]
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Sequence

import torch

from formats.elements import PromptedRecord
from formats.prompt import clean_lines, prompt_hash
from model.checkpoint import read_metadata, write_metadata
from train.data import Encoder, Sample, synthetic_samples

DEFAULT_TARGET = 0.98  # accepted precision aimed at (bench.confidence --choose takes it as an option)
DEFAULT_DESCRIPTION_TARGET = 0.95
DEFAULT_FLOOR = 0.5


def prompted_samples(encoder: Encoder, samples: Sequence[Sample]) -> list[PromptedRecord]:
    """The samples as the job's prompted records: same prompt rule, ids, and cleaned lines for the evidence."""
    records = []
    for sample in samples:
        ids, truncated = encoder.prompt(sample)
        text = encoder.tokenizer.decode(ids)
        records.append(PromptedRecord(id=sample.id, language=sample.language, prompt=text, input_ids=tuple(ids),
                                      truncated=truncated, input_hash=prompt_hash(text), record_json="{}",
                                      back_lines=tuple(clean_lines(sample.back_lines)),
                                      front_lines=tuple(clean_lines(sample.front_lines))))
    return records


def choose_thresholds(model, tokenizer, encoder: Encoder, samples: Sequence[Sample], max_new_tokens: int,
                      batch_size: int, chosen_on: str, target: float = DEFAULT_TARGET,
                      floor: float = DEFAULT_FLOOR,
                      description_target: float = DEFAULT_DESCRIPTION_TARGET) -> dict[str, Any]:
    """The ``"review"`` entry of ``backstamp.json`` for ``model``, chosen on ``samples`` (labelled)."""
    from bench.confidence import choose, collect  # the choice bench.confidence --choose makes
    from model.generation import generate_batch

    records = prompted_samples(encoder, samples)
    ordered = sorted(records, key=lambda r: len(r.input_ids))
    generations = {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(ordered), batch_size):
                batch = ordered[start:start + batch_size]
                for record, generation in zip(batch, generate_batch(model, tokenizer, [r.input_ids for r in batch],
                                                                     max_new_tokens)):
                    generations[record.id] = generation
    finally:
        model.train(was_training)
    # collect() also reads the probabilities after the tag grammar ("decoded"), for bench's AUROC
    # table only; the job's confidence, which the thresholds apply to, is the "model" one.
    labels = {s.id: {"id": s.id, **(s.fields or {})} for s in samples}
    rows = collect(records, labels, {"model": generations, "decoded": generations})
    return {"thresholds": choose(rows, target, floor, description_target), "chosen_on": chosen_on,
            "target": target, "description_target": description_target, "floor": floor}


def write_review(checkpoint: str, review: dict[str, Any]) -> dict[str, Any]:
    """Put ``review`` into the checkpoint's ``backstamp.json`` (file hashes recomputed, other keys kept)."""
    metadata = {k: v for k, v in read_metadata(checkpoint).items() if k != "files"}
    return write_metadata(checkpoint, {**metadata, "review": review})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.thresholds", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a local checkpoint or adapter folder trained by python -m train")
    parser.add_argument("--n", type=int, default=200, help="records of the synthetic held-out split")
    parser.add_argument("--seed", type=int, default=1, help="seed of the held-out split (training validates on 1)")
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET)
    parser.add_argument("--description_target", type=float, default=DEFAULT_DESCRIPTION_TARGET)
    parser.add_argument("--floor", type=float, default=DEFAULT_FLOOR)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--torch_threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    from model.checkpoint import checkpoint_context_length
    from model.loading import load_model, load_tokenizer

    metadata = read_metadata(args.model)
    if "max_new_tokens" not in metadata:
        parser.error(f"{args.model}: no backstamp.json with max_new_tokens (not trained by python -m train)")
    tokenizer = load_tokenizer(args.model)
    model = load_model(args.model)
    encoder = Encoder(tokenizer, checkpoint_context_length(args.model), metadata["max_new_tokens"],
                      metadata.get("max_prompt_tokens"))
    samples = synthetic_samples(args.n, args.seed, "heldout")
    review = choose_thresholds(model, tokenizer, encoder, samples, metadata["max_new_tokens"], args.batch_size,
                               f"synthetic held-out split, seed {args.seed}, {len(samples)} records", args.target,
                               args.floor, args.description_target)
    write_review(args.model, review)
    print(json.dumps(review))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
