"""Fine-tuning GPT-J with DeepSpeed: the entry point, training data and a synthetic data generator.

``python -m train ...`` / ``deepspeed --module train ...`` (``train.finetune``),
``python -m train.synthetic`` (seeded OCR records + labels), ``python -m train.tokenizer``.
"""
