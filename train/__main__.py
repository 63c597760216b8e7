"""``python -m train ...`` and ``deepspeed --module train ...``: see ``train.finetune``."""
from train.finetune import main

if __name__ == "__main__":
    raise SystemExit(main())
