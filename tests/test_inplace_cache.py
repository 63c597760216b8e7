"""The eager loop's in-place KV cache holds exactly what transformers' DynamicLayer would hold,
while copying only what moves (model/inplace_cache.py)."""
from __future__ import annotations

import pytest
import torch
from transformers import DynamicLayer, GPTJConfig, MistralConfig

from model.inplace_cache import InPlaceLayer, compaction, in_place_cache


def states(rows: int, columns: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, 2, columns, 4, generator=generator),
            torch.randn(rows, 2, columns, 4, generator=generator))


def assert_holds_the_same(layer: InPlaceLayer, reference: DynamicLayer) -> None:
    assert torch.equal(layer.keys, reference.keys)
    assert torch.equal(layer.values, reference.values)
    assert layer.get_seq_length() == reference.get_seq_length()


@pytest.mark.parametrize("going, order", [
    ([True, True, True], [0, 1, 2]),
    ([True, False, True, True], [0, 3, 2]),
    ([False, True, False, True, True], [3, 1, 4]),
    ([True, True, False, False], [0, 1]),
    ([False, False], []),
])
def test_compaction_keeps_every_going_row_and_moves_only_rows_from_beyond_the_kept_count(going, order):
    assert compaction(going) == order
    assert sorted(compaction(going)) == [i for i, on in enumerate(going) if on]


def test_steps_row_drops_and_column_cuts_hold_what_a_dynamic_layer_holds():
    layer, reference = InPlaceLayer(room=3), DynamicLayer()
    for step, columns in enumerate([5, 1, 1]):
        keys, values = states(4, columns, step)
        returned, expected = layer.update(keys, values), reference.update(keys, values)
        assert all(torch.equal(a, b) for a, b in zip(returned, expected))
    assert_holds_the_same(layer, reference)

    order = torch.tensor(compaction([True, False, True, True]))
    layer.batch_select_indices(order)
    reference.batch_select_indices(order)
    assert_holds_the_same(layer, reference)

    layer.drop_columns(2)
    reference.keys, reference.values = reference.keys[:, :, 2:], reference.values[:, :, 2:]
    assert_holds_the_same(layer, reference)

    for step in range(4):  # past the room of 3: the buffers grow, the contents stay
        keys, values = states(3, 1, 10 + step)
        layer.update(keys, values)
        reference.update(keys, values)
    assert_holds_the_same(layer, reference)


def test_a_step_writes_in_place_and_a_drop_copies_only_the_rows_that_move():
    layer = InPlaceLayer(room=8)
    layer.update(*states(4, 5, 0))
    buffer, kept = layer._keys, layer.keys[0].clone()
    layer.update(*states(4, 1, 1))
    layer.batch_select_indices(torch.tensor(compaction([True, False, True, True])))
    assert layer._keys is buffer  # no new cache tensor: the step and the drop wrote into the same buffer
    assert torch.equal(layer.keys[0, :, :5], kept)
    assert layer.keys.shape[0] == 3


def test_rows_that_join_are_right_aligned_and_a_wider_one_widens_the_cache_on_the_left():
    layer, reference = InPlaceLayer(room=4), DynamicLayer()
    for keys, values in [states(2, 3, 0), states(2, 1, 1)]:
        layer.update(keys, values)
        reference.update(keys, values)
    layer.drop_columns(1)
    reference.keys, reference.values = reference.keys[:, :, 1:], reference.values[:, :, 1:]

    narrow_keys, narrow_values = states(1, 2, 2)  # narrower than the cache's 3 columns: zeros on its left
    layer.add_rows(narrow_keys, narrow_values)
    pad = (0, 0, 1, 0)
    reference.keys = torch.cat([reference.keys, torch.nn.functional.pad(narrow_keys, pad)])
    reference.values = torch.cat([reference.values, torch.nn.functional.pad(narrow_values, pad)])
    assert_holds_the_same(layer, reference)

    wide_keys, wide_values = states(1, 6, 3)  # wider: every older row gains 3 columns on its left
    layer.add_rows(wide_keys, wide_values)
    assert layer.keys.shape == (4, 2, 6, 4)
    assert torch.equal(layer.keys[3], wide_keys[0])
    assert torch.equal(layer.keys[:3, :, 3:], reference.keys)
    assert torch.equal(layer.values[:3, :, 3:], reference.values)


def test_only_full_attention_models_get_the_in_place_cache():
    config = GPTJConfig(n_layer=3, n_embd=32, n_head=4, rotary_dim=4, vocab_size=64)
    cache = in_place_cache(config, room=16)
    assert [type(layer) for layer in cache.layers] == [InPlaceLayer] * 3
    with pytest.raises(ValueError, match="full-attention cache layers, not sliding_attention"):
        in_place_cache(MistralConfig(num_hidden_layers=2, sliding_window=8), room=16)
