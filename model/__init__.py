"""Checkpoint loading, inference engines and batched greedy generation for GPT-J: torch, no Beam, no ``pipeline``."""
