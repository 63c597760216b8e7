"""Training examples for the fine-tuned GPT-J: prompt ids + completion ids, loss on the completion only.

Sources:

* Parquet with the SPEC §2 columns (``id``, ``front_ocr``, ``back_ocr``, ``language``) and
  the five label columns (``description, title, agency, photographer, date``) — in the
  same file, or in a second ``labels`` file joined on ``id`` (what ``train.synthetic``
  writes);
* the original fine-tuning CSV with a ``text`` column holding ``prompt + completion``;
  it is split after the first ``<END>`` (the prompt keeps it, as SPEC §3 does);
* the synthetic generator directly (``synthetic_examples``): a fresh stream in which no
  record repeats.

Each example is one sequence — ``{bos} {prompt}`` then `` {completion}<|endoftext|>`` —
never packed with another: packing (HF ``run_clm``'s ``group_texts``) lets a record
attend to the end of the previous one and trains the model to continue past its answer.
Prompt positions carry the label -100, so the loss is on the completion (and its
end-of-text) only. The prompt is built exactly as the pipeline builds it
(``formats.prompt.fit_prompt`` with the same token budget, ``model_input`` with the
tokenizer's BOS), so training and inference see the same token sequences.

Batches group examples of similar length (``bucketed_batches``) so little compute is
spent on padding; padding is on the right with attention mask 0 and label -100.
"""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch

from formats.prompt import build_completion, fit_prompt, model_input, prompt_budget, split_ocr
from formats.tags import END_TAG, FIELDS
from model.loading import special_tokens

IGNORE_INDEX = -100
LABEL_FIELDS = tuple(FIELDS)  # description, title, agency, photographer, date


@dataclass(frozen=True)
class Sample:
    """One record before tokenisation: OCR lines, language and label fields (or raw prompt/completion)."""

    id: str
    language: str
    back_lines: tuple[str, ...] = ()
    front_lines: tuple[str, ...] = ()
    fields: Mapping[str, str] | None = None
    prompt_text: str | None = None       # set for CSV rows: the prompt as written in the file
    completion_text: str | None = None   # set for CSV rows

    def completion(self) -> str:
        if self.completion_text is not None:
            return self.completion_text
        return build_completion(self.language, self.fields or {})


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]
    n_prompt: int
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


# ---------------------------------------------------------------------------------------
# Reading


def read_samples(path: str | Path, labels_path: str | Path | None = None,
                 default_language: str = "en") -> list[Sample]:
    """Samples from a Parquet file (labels inline or in ``labels_path``) or a ``text`` CSV."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv") or path.name.endswith(".csv.gz"):
        return read_text_csv(path)
    return read_parquet(path, labels_path, default_language)


def read_parquet(path: str | Path, labels_path: str | Path | None = None,
                 default_language: str = "en") -> list[Sample]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    if labels_path is not None:
        labels = {row["id"]: row for row in pq.read_table(labels_path).to_pylist()}
        missing = [row["id"] for row in rows if row["id"] not in labels]
        if missing:
            raise ValueError(f"{labels_path}: no labels for {len(missing)} records (e.g. {missing[:3]})")
        rows = [{**labels[row["id"]], **{k: v for k, v in row.items() if k not in LABEL_FIELDS}} for row in rows]
    for column in ("id", "front_ocr", "back_ocr", *LABEL_FIELDS):
        if rows and column not in rows[0]:
            raise ValueError(f"{path}: missing column {column!r} (need SPEC §2 columns and {', '.join(LABEL_FIELDS)})")
    return [
        Sample(
            id=str(row["id"]),
            language=(row.get("language") or default_language).strip().lower(),
            back_lines=tuple(split_ocr(row.get("back_ocr"))),
            front_lines=tuple(split_ocr(row.get("front_ocr"))),
            fields={name: row.get(name) or "" for name in LABEL_FIELDS},
        )
        for row in rows
    ]


def split_text(text: str) -> tuple[str, str]:
    """The original ``text`` column → (prompt ending in ``<END>``, completion)."""
    index = text.find(END_TAG)
    if index < 0:
        raise ValueError(f"no {END_TAG} in training text: {text[:80]!r}")
    cut = index + len(END_TAG)
    return text[:cut].strip(), text[cut:].strip()


def read_text_csv(path: str | Path) -> list[Sample]:
    samples = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "text" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: a CSV needs a 'text' column (prompt + completion)")
        for i, row in enumerate(reader):
            text = row["text"] or ""
            for eot in ("<|endoftext|>",):
                text = text.replace(eot, " ")
            prompt, completion = split_text(text)
            language = prompt.split()[1] if prompt.startswith("<language>") and len(prompt.split()) > 1 else "en"
            samples.append(Sample(id=row.get("id") or str(i), language=language,
                                  prompt_text=prompt, completion_text=completion))
    return samples


def synthetic_samples(n: int, seed: int, split: str = "train", start: int = 0,
                      uncued_credits: float | None = None) -> list[Sample]:
    """``n`` fresh records from the generator, as samples; ``uncued_credits`` overrides its credit mix."""
    from train.synthetic import UNCUED_CREDITS, Generator

    generator = Generator(seed, split, uncued_credits=UNCUED_CREDITS if uncued_credits is None else uncued_credits)
    return [
        Sample(id=r.id, language=r.language, back_lines=tuple(r.back_ocr or ()), front_lines=tuple(r.front_ocr or ()),
               fields=r.labels)
        for r in generator.records(n, start)
    ]


# ---------------------------------------------------------------------------------------
# Tokenisation


class Encoder:
    """Turns samples into ``Example``s with the pipeline's prompt rule and budget."""

    def __init__(self, tokenizer, max_length: int, max_new_tokens: int | None = None,
                 max_prompt_tokens: int | None = None):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.bos = tokenizer.bos_token or ""
        self.eos_id = tokenizer.eos_token_id
        self.special_tokens = special_tokens(tokenizer)  # neutralised in OCR, as the job does

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def completion_ids(self, sample: Sample) -> list[int]:
        return self.tokenizer.encode(" " + sample.completion(), add_special_tokens=False) + [self.eos_id]

    def prompt_budget(self) -> int:
        return prompt_budget(self.max_length, self.max_new_tokens or 0, self.max_prompt_tokens)

    def prompt(self, sample: Sample) -> tuple[list[int], bool]:
        if sample.prompt_text is not None:
            ids = self.tokenizer.encode(model_input(sample.prompt_text, self.bos), add_special_tokens=False)
            budget = self.prompt_budget()
            return (ids[:budget], True) if len(ids) > budget else (ids, False)
        fitted = fit_prompt(sample.back_lines, sample.front_lines, sample.language, self.prompt_budget(),
                            self.count_tokens, bos_token=self.bos, special_tokens=self.special_tokens)
        ids = self.tokenizer.encode(model_input(fitted.text, self.bos), add_special_tokens=False)
        return ids, fitted.truncated

    def encode(self, sample: Sample, completion: list[int] | None = None) -> Example:
        prompt, truncated = self.prompt(sample)
        completion = self.completion_ids(sample) if completion is None else completion
        room = self.max_length - len(prompt)
        if len(completion) > room:  # the answer is cut; its end-of-text is lost, as at inference
            completion, truncated = completion[:room], True
        return Example(prompt + completion, [IGNORE_INDEX] * len(prompt) + completion, len(prompt), truncated)

    def encode_all(self, samples: Sequence[Sample]) -> list[Example]:
        return [self.encode(s) for s in samples]


def completion_token_stats(encoder: Encoder, samples: Sequence[Sample]) -> dict[str, int]:
    """Length of completions in tokens (with end-of-text): p50, p99, max."""
    lengths = sorted(len(encoder.completion_ids(s)) for s in samples)
    if not lengths:
        return {"p50": 0, "p99": 0, "max": 0}
    pick = lambda q: lengths[min(len(lengths) - 1, math.ceil(q * len(lengths)) - 1)]  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "max": lengths[-1]}


def choose_max_new_tokens(stats: Mapping[str, int], margin: float = 0.25, minimum_margin: int = 16) -> int:
    """p99 completion length plus a margin (25 %, at least 16 tokens), rounded up to a multiple of 8."""
    value = stats["p99"] + max(minimum_margin, math.ceil(stats["p99"] * margin))
    return int(math.ceil(value / 8) * 8)


# ---------------------------------------------------------------------------------------
# Batching


def bucketed_batches(examples: Sequence[Example], batch_size: int, seed: int,
                     bucket_batches: int = 50, shuffle: bool = True) -> list[list[int]]:
    """Indices grouped into batches of similar length.

    Examples are shuffled, cut into chunks of ``bucket_batches * batch_size``, each chunk
    sorted by length and cut into batches; the batches are shuffled again, so lengths do
    not drift over an epoch but each batch pads little.
    """
    rng = random.Random(seed)
    order = list(range(len(examples)))
    if shuffle:
        rng.shuffle(order)
    batches = []
    chunk = max(1, bucket_batches) * batch_size
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: len(examples[i]))
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding)."""
    width = max(len(e) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e)
        input_ids[row, :n] = torch.tensor(e.input_ids)
        attention_mask[row, :n] = 1
        labels[row, :n] = torch.tensor(e.labels)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def iterate_batches(examples: Sequence[Example], batch_size: int, pad_id: int, seed: int, epochs: float = 1.0,
                    rank: int = 0, world_size: int = 1, skip: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Collated batches for ``epochs`` passes (a fraction of a pass stops early), this rank's share.

    The order depends only on the arguments (epoch ``e`` is shuffled with ``seed + e``), so
    ``skip`` — batches of all ranks already trained on — resumes the stream exactly where a
    checkpoint left it; skipped batches are not collated.
    """
    epoch = 0
    produced = 0
    per_epoch = math.ceil(len(examples) / batch_size)
    total = math.ceil(per_epoch * epochs)
    while produced < total:
        if produced + per_epoch <= skip:  # a whole epoch already trained: do not even shuffle it
            produced += per_epoch
            epoch += 1
            continue
        batches = bucketed_batches(examples, batch_size, seed + epoch)
        for batch in batches:
            if produced >= total:
                return
            if produced >= skip and produced % world_size == rank:
                yield collate([examples[i] for i in batch], pad_id)
            produced += 1
        epoch += 1


def lengths_summary(examples: Sequence[Example]) -> dict[str, float]:
    """Number of examples, mean and max length, tokens with a loss, truncated examples."""
    if not examples:
        return {}
    lengths = [len(e) for e in examples]
    return {"n": len(lengths), "mean_tokens": round(sum(lengths) / len(lengths), 1), "max_tokens": max(lengths),
            "supervised_tokens": sum(len(e) - e.n_prompt for e in examples),
            "truncated": sum(e.truncated for e in examples)}
