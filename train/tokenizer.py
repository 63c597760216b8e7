"""Tokenizers for training: a small byte-level BPE for the tiny GPT-J, and the tag tokens.

Tags (``formats.tags.ALL_TAG_TOKENS``) are added as *non-special* tokens, so they survive
``decode(skip_special_tokens=True)`` as SPEC §4 requires. Each tag is added twice: as
``"<b>"`` and as ``" <b>"`` (with its leading space). The tokenizer matches added tokens
longest first, so in a prompt or completion — where every tag follows a space — a tag
and its space are one token and decode back to exactly the same text, instead of a
separate ``"Ġ"`` token before every tag (a separator costs one token, not two: about
10 % shorter sequences). The bare form covers a tag at the start of a text.

The tiny model's BPE (``train_bpe``) is trained on synthetic prompts and completions with
the tags removed (they are added tokens, not merges). A vocabulary of a few thousand
pieces keeps sequences short while splitting unseen names into pieces that were seen in
training, which is what lets a small model copy names it has never met.

CLI: ``python -m train.tokenizer --out DIR [--vocab_size 2048] [--n 20000] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import re
from typing import Iterable, Iterator, Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from formats.tags import ALL_TAG_TOKENS

EOS = "<|endoftext|>"
_TAG_TEXT = re.compile("|".join(re.escape(t) for t in ALL_TAG_TOKENS))


def tag_tokens() -> list[AddedToken]:
    """Every tag as a non-special added token, bare and with its leading space."""
    tokens = []
    for text in ALL_TAG_TOKENS:
        for content in (text, " " + text):
            tokens.append(AddedToken(content, single_word=False, lstrip=False, rstrip=False,
                                     normalized=False, special=False))
    return tokens


def add_tag_tokens(tokenizer: PreTrainedTokenizerBase) -> int:
    """Add the tag tokens (idempotent); returns how many were new."""
    return tokenizer.add_tokens(tag_tokens())


def synthetic_corpus(n: int, seed: int) -> Iterator[str]:
    """Texts of ``n`` synthetic training records (OCR lines and label values, tags removed)."""
    from train.synthetic import Generator  # local: the generator needs Faker, loading a tokenizer does not

    for record in Generator(seed, "train").records(n):
        lines = (record.back_ocr or []) + (record.front_ocr or [])
        values = [v for v in record.labels.values() if v]
        yield " ".join(lines + values + [record.language])


def train_bpe(texts: Iterable[str], vocab_size: int = 2048, with_tags: bool = True) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE trained on ``texts``, with bos/eos/pad ``<|endoftext|>`` and the tags
    (``with_tags=False``: without, like a pretrained base's tokenizer before training adds them)."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator((_TAG_TEXT.sub(" ", t) for t in texts), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOS, eos_token=EOS, pad_token=EOS,
                                        unk_token=EOS, model_max_length=2048)
    if with_tags:
        add_tag_tokens(tokenizer)
    return tokenizer


def build_synthetic_tokenizer(vocab_size: int = 2048, n: int = 20000, seed: int = 0) -> PreTrainedTokenizerFast:
    return train_bpe(synthetic_corpus(n, seed), vocab_size)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.tokenizer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocab_size", type=int, default=2048)
    parser.add_argument("--n", type=int, default=20000, help="synthetic records to train on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    tokenizer = build_synthetic_tokenizer(args.vocab_size, args.n, args.seed)
    tokenizer.save_pretrained(args.out)
    print(f"saved a {len(tokenizer)}-token tokenizer to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
