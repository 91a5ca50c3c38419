"""Specification of `MaskedLMMaskGenerator`: which tokens are picked, how they change."""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import backend
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.preprocessing.masked_lm_mask_generator import MaskedLMMaskGenerator

# keras-hub's test vocabulary: [UNK], [MASK], [RANDOM], [CLS], [SEP], then words.
HUB_VOCABULARY_SIZE = 13
HUB_MASK_ID = 1


def make_masker(**overrides):
    arguments = dict(
        vocabulary_size=100,
        mask_selection_rate=0.5,
        mask_token_id=1,
        mask_selection_length=None,
        seed=0,
    )
    arguments.update(overrides)
    return MaskedLMMaskGenerator(**arguments)


def as_numpy(outputs):
    return {key: to_numpy(value) for key, value in outputs.items()}


def binomial_bounds(trials, probability, sigmas=4.5):
    """An interval a Binomial(trials, probability) count leaves with odds < 1e-5."""
    mean = trials * probability
    spread = sigmas * math.sqrt(trials * probability * (1 - probability))
    return mean - spread, mean + spread


# keras-hub's published cases (keras_hub/src/layers/preprocessing/
# masked_lm_mask_generator_test.py), expected values as published there.


def test_keras_hub_case_ragged_rows_all_masked():
    masker = MaskedLMMaskGenerator(
        vocabulary_size=HUB_VOCABULARY_SIZE,
        mask_selection_rate=1,
        mask_selection_length=4,
        mask_token_id=HUB_MASK_ID,
        mask_token_rate=1,
        random_token_rate=0,
    )
    outputs = masker([[5, 3, 2], [1, 2, 3, 4]])
    assert [row.tolist() for row in outputs["token_ids"]] == [[1, 1, 1], [1, 1, 1, 1]]
    assert to_numpy(outputs["mask_positions"]).tolist() == [[0, 1, 2, 0], [0, 1, 2, 3]]
    assert to_numpy(outputs["mask_ids"]).tolist() == [[5, 3, 2, 0], [1, 2, 3, 4]]


def test_keras_hub_case_dense_rows_all_masked():
    masker = MaskedLMMaskGenerator(
        vocabulary_size=HUB_VOCABULARY_SIZE,
        mask_selection_rate=1,
        mask_selection_length=4,
        mask_token_id=HUB_MASK_ID,
        mask_token_rate=1,
        random_token_rate=0,
    )
    outputs = as_numpy(masker([[5, 3, 2, 4], [1, 2, 3, 4]]))
    assert outputs["token_ids"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert outputs["mask_positions"].tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert outputs["mask_ids"].tolist() == [[5, 3, 2, 4], [1, 2, 3, 4]]


def test_keras_hub_case_unbatched_all_masked():
    masker = MaskedLMMaskGenerator(
        vocabulary_size=HUB_VOCABULARY_SIZE,
        mask_selection_rate=1,
        mask_selection_length=4,
        mask_token_id=HUB_MASK_ID,
        mask_token_rate=1,
        random_token_rate=0,
    )
    outputs = as_numpy(masker([5, 3, 2, 4]))
    assert outputs["token_ids"].tolist() == [1, 1, 1, 1]
    assert outputs["mask_positions"].tolist() == [0, 1, 2, 3]
    assert outputs["mask_ids"].tolist() == [5, 3, 2, 4]


def test_keras_hub_case_random_replacement_changes_tokens():
    masker = MaskedLMMaskGenerator(
        vocabulary_size=10_000,
        mask_selection_rate=1,
        mask_selection_length=4,
        mask_token_id=HUB_MASK_ID,
        mask_token_rate=0,
        random_token_rate=1,
        seed=0,
    )
    outputs = as_numpy(masker([5, 3, 2, 4]))
    # keras-hub asserts only `!= [1, 1, 1, 1]`, which holds when nothing is replaced. Every
    # token is replaced by a uniform draw over 10000 ids: it lands on its original token
    # or on the mask id with probability 2e-4, and seed 0 fixes the draw.
    replaced = outputs["token_ids"].tolist()
    assert all(new != old and new != HUB_MASK_ID for new, old in zip(replaced, [5, 3, 2, 4]))
    assert all(0 <= token < 10_000 for token in replaced)
    assert outputs["mask_positions"].tolist() == [0, 1, 2, 3]
    assert outputs["mask_ids"].tolist() == [5, 3, 2, 4]


def test_keras_hub_case_selection_length_zero_picks_nothing():
    masker = MaskedLMMaskGenerator(
        vocabulary_size=HUB_VOCABULARY_SIZE,
        mask_selection_rate=0.5,
        mask_token_id=HUB_MASK_ID,
        mask_selection_length=0,
    )
    inputs = [[0, 1, 2], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4]]
    outputs = masker(inputs)
    assert to_numpy(outputs["mask_positions"]).shape == (3, 0)
    assert [row.tolist() for row in outputs["token_ids"]] == inputs


def test_keras_hub_case_all_tokens_unselectable_gives_zero_weights():
    unselectable = [HUB_VOCABULARY_SIZE - 1, HUB_VOCABULARY_SIZE - 2]
    masker = MaskedLMMaskGenerator(
        vocabulary_size=HUB_VOCABULARY_SIZE,
        mask_selection_rate=1,
        mask_token_id=HUB_MASK_ID,
        mask_selection_length=5,
        unselectable_token_ids=unselectable,
        mask_token_rate=1,
        random_token_rate=0,
    )
    outputs = as_numpy(masker([unselectable]))
    assert outputs["mask_weights"].sum() == 0
    assert outputs["token_ids"].tolist() == [unselectable]


# The rule, on every path. `mask_on` runs one batch through one of the layer's paths:
# numpy (concrete inputs, eager tensors), keras.ops (what a compiled model runs), tf.data.
# Batches are (4, 12) or (1000, 12) with 8 slots where the test allows: eager JAX compiles
# each op once per shape, and these two shapes keep the keras.ops cases cheap.

PATHS = ["numpy", "keras_ops", "tf_data"]
SLOTS = 8


def mask_on(path, masker, ids):
    """The outputs, as numpy, of masking the 2-D numpy `ids` on `path`."""
    if path == "numpy":
        outputs = masker(ids)
    elif path == "keras_ops":
        outputs = masker._call_with_keras_ops(keras.ops.convert_to_tensor(ids.astype("int32")))
    else:
        tf = pytest.importorskip("tensorflow")
        outputs = tf.data.Dataset.from_tensors(ids).map(masker).get_single_element()
    return as_numpy(outputs)


def padded_rows(*selectable_counts, length=12, first_id=5):
    """One row per count: that many distinct selectable ids, then padding (0)."""
    return np.array(
        [[first_id + i if i < count else 0 for i in range(length)] for count in selectable_counts]
    )


def picked_mask(outputs, shape):
    """Which tokens each row picked, from `mask_positions` and `mask_weights`."""
    picked = np.zeros(shape, dtype=bool)
    rows, slots = np.nonzero(outputs["mask_weights"])
    picked[rows, outputs["mask_positions"][rows, slots]] = True
    return picked


@pytest.mark.parametrize("path", PATHS)
def test_picks_ceil_of_rate_times_selectable_tokens_in_each_row(path):
    masker = make_masker(mask_selection_rate=0.3, mask_selection_length=SLOTS)
    # Selectable (non-zero) tokens per row: 10, 7, 1, 0 -> ceil(0.3 n) = 3, 3, 1, 0.
    weights = mask_on(path, masker, padded_rows(10, 7, 1, 0))["mask_weights"]
    assert weights.sum(axis=1).tolist() == [3, 3, 1, 0]
    np.testing.assert_array_equal(weights, np.arange(SLOTS) < np.array([[3], [3], [1], [0]]))


@pytest.mark.parametrize("path", PATHS)
def test_rate_is_read_as_the_written_decimal(path):
    # In floats 0.7 * 10 = 7.000000000000001, whose ceiling would wrongly be 8.
    masker = make_masker(mask_selection_rate=0.7, mask_selection_length=SLOTS)
    weights = mask_on(path, masker, padded_rows(10, 10, 10, 10))["mask_weights"]
    assert weights.sum(axis=1).tolist() == [7, 7, 7, 7]


@pytest.mark.parametrize("path", PATHS)
def test_rate_with_many_digits_counts_exactly(path):
    # 0.1234567891234 is 1234567891234 / 10**13: 10 tokens -> ceil(1.23...) = 2, 1 -> 1.
    # (n * 1234567891234 overflows int32: the count must not be computed in the tensors.)
    masker = make_masker(mask_selection_rate=0.1234567891234, mask_selection_length=SLOTS)
    weights = mask_on(path, masker, padded_rows(10, 1, 12, 0))["mask_weights"]
    assert weights.sum(axis=1).tolist() == [2, 1, 2, 0]


@pytest.mark.parametrize("path", PATHS)
def test_mask_selection_length_caps_the_count(path):
    masker = make_masker(mask_selection_rate=1.0, mask_selection_length=SLOTS)
    weights = mask_on(path, masker, padded_rows(12, 9, 8, 3))["mask_weights"]
    assert weights.sum(axis=1).tolist() == [8, 8, 8, 3]


@pytest.mark.parametrize("path", PATHS)
def test_padding_slots_are_zero_beyond_the_count(path):
    masker = make_masker(mask_selection_rate=0.25, mask_selection_length=SLOTS)
    outputs = mask_on(path, masker, padded_rows(8, 8, 8, 8))  # ceil(8 * 0.25) = 2 picked
    assert outputs["mask_weights"].tolist() == [[1, 1] + [0] * 6] * 4
    assert (outputs["mask_positions"][:, 2:] == 0).all()
    assert (outputs["mask_ids"][:, 2:] == 0).all()


@pytest.mark.parametrize("path", PATHS)
def test_selection_length_beyond_the_row_length_pads_with_zeros(path):
    masker = make_masker(mask_selection_rate=1.0, mask_selection_length=14)
    outputs = mask_on(path, masker, np.array([[7, 8, 0, 9] + [0] * 8]))  # 3 selectable, all picked
    assert outputs["mask_positions"].tolist() == [[0, 1, 3] + [0] * 11]
    assert outputs["mask_ids"].tolist() == [[7, 8, 9] + [0] * 11]
    assert outputs["mask_weights"].tolist() == [[1, 1, 1] + [0] * 11]


@pytest.mark.parametrize("path", PATHS)
def test_selection_length_zero_picks_nothing(path):
    masker = make_masker(mask_selection_rate=0.5, mask_selection_length=0)
    inputs = padded_rows(12, 6, 3, 0)
    outputs = mask_on(path, masker, inputs)
    assert outputs["mask_positions"].shape == (4, 0)
    np.testing.assert_array_equal(outputs["token_ids"], inputs)


@pytest.mark.parametrize("path", PATHS)
def test_rate_zero_picks_nothing_and_changes_nothing(path):
    inputs = padded_rows(12, 6, 3, 0)
    masker = make_masker(mask_selection_rate=0.0, mask_selection_length=SLOTS)
    outputs = mask_on(path, masker, inputs)
    np.testing.assert_array_equal(outputs["token_ids"], inputs)
    assert outputs["mask_weights"].sum() == 0


@pytest.mark.parametrize("path", PATHS)
def test_all_tokens_unselectable_gives_zero_weights(path):
    masker = make_masker(
        mask_selection_rate=1.0, mask_selection_length=SLOTS, unselectable_token_ids=[0, 9]
    )
    inputs = np.where(padded_rows(12, 6, 3, 0) > 0, 9, 0)
    outputs = mask_on(path, masker, inputs)
    assert outputs["mask_weights"].sum() == 0
    np.testing.assert_array_equal(outputs["token_ids"], inputs)


@pytest.mark.parametrize("path", PATHS)
def test_unselectable_ids_are_never_picked(path):
    unselectable = [0, 3, 4]
    masker = make_masker(
        vocabulary_size=8,
        mask_selection_rate=0.9,
        mask_selection_length=SLOTS,
        unselectable_token_ids=unselectable,
    )
    inputs = np.random.default_rng(1).integers(0, 8, size=(1000, 12))
    outputs = mask_on(path, masker, inputs)
    picked_ids = outputs["mask_ids"][outputs["mask_weights"] == 1]
    # 5/8 of 12 tokens are selectable, 7.5 on average: about 6.5 picks a row (at most 8).
    assert picked_ids.size > 5000
    assert not np.isin(picked_ids, unselectable).any()
    untouched = np.isin(inputs, unselectable)
    np.testing.assert_array_equal(outputs["token_ids"][untouched], inputs[untouched])


@pytest.mark.parametrize("path", PATHS)
def test_positions_increase_and_ids_are_the_original_tokens(path):
    masker = make_masker(mask_selection_rate=0.5, mask_selection_length=SLOTS)
    inputs = np.random.default_rng(2).integers(2, 100, size=(4, 12))
    outputs = mask_on(path, masker, inputs)
    positions = outputs["mask_positions"][:, :6]  # ceil(12 * 0.5) = 6 picks in 8 slots
    assert outputs["mask_weights"].sum(axis=1).tolist() == [6, 6, 6, 6]
    assert (np.diff(positions, axis=1) > 0).all()
    np.testing.assert_array_equal(
        outputs["mask_ids"][:, :6], np.take_along_axis(inputs, positions, 1)
    )


@pytest.mark.parametrize("path", PATHS)
def test_only_picked_positions_change(path):
    masker = make_masker(mask_selection_rate=0.5, mask_selection_length=SLOTS)
    inputs = np.random.default_rng(3).integers(2, 100, size=(1000, 12))
    outputs = mask_on(path, masker, inputs)
    picked = picked_mask(outputs, inputs.shape)
    np.testing.assert_array_equal(outputs["token_ids"][~picked], inputs[~picked])
    assert (outputs["token_ids"][picked] != inputs[picked]).mean() > 0.8  # most picks change


@pytest.mark.parametrize("path", PATHS)
def test_selection_is_uniform_over_selectable_positions(path):
    # Each row: 8 selectable tokens and 4 pads; 2 are picked, so every selectable
    # position is picked with probability 2/8 in each of the 1000 rows.
    masker = make_masker(mask_selection_rate=0.25, mask_selection_length=SLOTS)
    row = np.array([0, 5, 6, 7, 0, 8, 9, 10, 11, 12, 0, 0])
    outputs = mask_on(path, masker, np.tile(row, (1000, 1)))
    counts = picked_mask(outputs, (1000, 12)).sum(axis=0)
    assert counts[row == 0].tolist() == [0, 0, 0, 0]
    low, high = binomial_bounds(1000, 0.25)
    assert ((counts[row != 0] > low) & (counts[row != 0] < high)).all(), counts


def check_replacement_split(after, before, vocabulary_size, mask_rate, random_rate):
    """Mask, kept and other counts of the picked tokens, each within binomial bounds."""
    # A random draw can itself land on the mask id (1) or on the original token.
    p_mask = mask_rate + random_rate / vocabulary_size
    p_kept = (1 - mask_rate - random_rate) + random_rate / vocabulary_size
    for observed, probability in (
        ((after == 1).sum(), p_mask),
        ((after == before).sum(), p_kept),
        (((after != 1) & (after != before)).sum(), 1 - p_mask - p_kept),
    ):
        low, high = binomial_bounds(before.size, probability)
        assert low < observed < high, (observed, probability)


@pytest.mark.parametrize("path", PATHS)
def test_replacement_split_is_within_binomial_bounds(path):
    masker = make_masker(
        vocabulary_size=50,
        mask_selection_rate=1.0,
        mask_selection_length=SLOTS,
        mask_token_rate=0.6,
        random_token_rate=0.3,
    )
    inputs = np.random.default_rng(4).integers(2, 50, size=(1000, 12))
    outputs = mask_on(path, masker, inputs)
    picked = picked_mask(outputs, inputs.shape)  # 8 of each row's 12
    check_replacement_split(outputs["token_ids"][picked], inputs[picked], 50, 0.6, 0.3)


@pytest.mark.parametrize("path", PATHS)
def test_default_rates_split_eighty_ten_ten(path):
    masker = make_masker(vocabulary_size=1000, mask_selection_rate=1.0, mask_selection_length=SLOTS)
    inputs = np.random.default_rng(5).integers(2, 1000, size=(1000, 12))
    outputs = mask_on(path, masker, inputs)
    picked = picked_mask(outputs, inputs.shape)
    check_replacement_split(outputs["token_ids"][picked], inputs[picked], 1000, 0.8, 0.1)


@pytest.mark.parametrize("path", PATHS)
def test_random_replacements_are_uniform_over_the_vocabulary(path):
    masker = make_masker(
        vocabulary_size=10,
        mask_selection_rate=1.0,
        mask_selection_length=SLOTS,
        mask_token_rate=0,
        random_token_rate=1,
    )
    outputs = mask_on(path, masker, np.full((1000, 12), 5))
    replaced = outputs["token_ids"][picked_mask(outputs, (1000, 12))]
    counts = np.bincount(replaced, minlength=10)
    low, high = binomial_bounds(8000, 0.1)
    assert ((counts > low) & (counts < high)).all(), counts


def test_numpy_and_keras_ops_give_the_same_masks_from_the_same_draws():
    from keras_embed.preprocessing import masked_lm_mask_generator as module

    masker = make_masker(
        mask_selection_rate=0.4, mask_selection_length=SLOTS, unselectable_token_ids=[0, 3]
    )
    rng = np.random.default_rng(12)
    rows = rng.integers(0, 20, size=(4, 12)).astype("int32")
    # Distinct sort keys, so that no tie is left to a backend's sort; float32 draws for both.
    draws = module._Draws(
        (rng.permuted(np.tile(np.arange(12), (4, 1)), axis=1) / 12.0).astype("float32"),
        rng.random((4, 12), dtype=np.float32),
        rng.integers(0, 100, (4, 12)).astype("int32"),
    )
    from_numpy = masker._mask_rows(module._NUMPY_OPS, rows, draws, slots=SLOTS)
    from_ops = masker._mask_rows(
        keras.ops,
        keras.ops.convert_to_tensor(rows),
        module._Draws(*(keras.ops.convert_to_tensor(values) for values in draws)),
        slots=SLOTS,
    )
    assert from_numpy[3].sum() > 0
    for numpy_value, ops_value in zip(from_numpy, from_ops):
        assert numpy_value.dtype == to_numpy(ops_value).dtype
        np.testing.assert_array_equal(to_numpy(ops_value), numpy_value)


# Reproducibility.


def test_same_seed_gives_same_masks():
    inputs = np.random.default_rng(5).integers(2, 100, size=(8, 12))
    first = as_numpy(make_masker(seed=42)(inputs))
    second = as_numpy(make_masker(seed=42)(inputs))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_different_seeds_give_different_masks():
    inputs = np.random.default_rng(5).integers(2, 100, size=(8, 12))
    first = to_numpy(make_masker(seed=1, mask_selection_length=6)(inputs)["mask_positions"])
    second = to_numpy(make_masker(seed=2, mask_selection_length=6)(inputs)["mask_positions"])
    assert not np.array_equal(first, second)


def test_successive_calls_draw_fresh_masks():
    masker = make_masker(mask_selection_length=6)
    inputs = np.random.default_rng(5).integers(2, 100, size=(8, 12))
    first = to_numpy(masker(inputs)["mask_positions"])
    second = to_numpy(masker(inputs)["mask_positions"])
    assert not np.array_equal(first, second)


def test_without_seed_set_random_seed_makes_masks_reproducible():
    inputs = np.random.default_rng(5).integers(2, 100, size=(8, 12))
    keras.utils.set_random_seed(3)
    first = to_numpy(make_masker(seed=None, mask_selection_length=6)(inputs)["mask_positions"])
    keras.utils.set_random_seed(3)
    second = to_numpy(make_masker(seed=None, mask_selection_length=6)(inputs)["mask_positions"])
    np.testing.assert_array_equal(first, second)


# Input kinds and output formats.


def test_dense_outputs_have_keras_hub_shapes_and_dtypes(dtype_policy):
    masker = make_masker(mask_selection_length=5)
    outputs = masker(np.random.default_rng(6).integers(2, 100, size=(3, 9)))
    shapes = {key: tuple(value.shape) for key, value in outputs.items()}
    dtypes = {key: keras.backend.standardize_dtype(value.dtype) for key, value in outputs.items()}
    assert shapes == {
        "token_ids": (3, 9),
        "mask_positions": (3, 5),
        "mask_ids": (3, 5),
        "mask_weights": (3, 5),
    }
    assert dtypes == {
        "token_ids": "int32",
        "mask_positions": "int32",
        "mask_ids": "int32",
        "mask_weights": "float32",
    }


def test_numpy_and_list_inputs_give_numpy_outputs():
    masker = make_masker(mask_selection_length=3)
    ids = np.random.default_rng(6).integers(2, 100, size=(2, 6))
    for inputs in (ids, ids.tolist(), ids[0], ids[0].tolist()):
        outputs = masker(inputs)
        assert all(isinstance(value, np.ndarray) for value in outputs.values())


def test_backend_tensor_inputs_give_backend_tensors():
    masker = make_masker(mask_selection_length=3)
    ids = keras.ops.convert_to_tensor(np.random.default_rng(6).integers(2, 100, size=(2, 6)))
    outputs = masker(ids)
    assert all(keras.ops.is_tensor(value) for value in outputs.values())
    assert not any(isinstance(value, np.ndarray) for value in outputs.values())


def test_inside_an_eager_model_the_outputs_are_backend_tensors():
    masker = make_masker(mask_selection_length=3, seed=4)
    inputs = keras.Input(shape=(6,), dtype="int32")
    model = keras.Model(inputs, masker(inputs))
    ids = np.random.default_rng(6).integers(2, 100, size=(2, 6)).astype("int32")
    outputs = model(keras.ops.convert_to_tensor(ids))
    assert all(keras.ops.is_tensor(value) for value in outputs.values())
    expected = make_masker(mask_selection_length=3, seed=4)(ids)
    for key, value in expected.items():
        np.testing.assert_array_equal(to_numpy(outputs[key]), value)


def test_grain_pipeline_masks_batches_as_eager_calls_do():
    grain = pytest.importorskip("grain")
    sequences = np.random.default_rng(8).integers(2, 100, size=(6, 10))
    dataset = (
        grain.MapDataset.source(list(sequences))
        .batch(3)
        .map(make_masker(mask_selection_length=4, seed=5))
    )
    # In order, without grain's reader threads (which call `map` in any order).
    batches = list(dataset.to_iter_dataset(grain.ReadOptions(num_threads=0)))
    eager = make_masker(mask_selection_length=4, seed=5)
    expected = [eager(sequences[:3]), eager(sequences[3:])]
    assert len(batches) == 2
    for batch, reference in zip(batches, expected):
        for key in reference:
            assert isinstance(batch[key], np.ndarray)
            np.testing.assert_array_equal(batch[key], reference[key])


def test_random_map_draws_from_the_given_generator_as_a_seeded_call_does():
    sequences = np.random.default_rng(8).integers(2, 100, size=(3, 10))
    from_generator = make_masker(mask_selection_length=4, seed=1).random_map(
        sequences, np.random.default_rng(5)
    )
    seeded = make_masker(mask_selection_length=4, seed=5)(sequences)
    for key in seeded:
        np.testing.assert_array_equal(from_generator[key], seeded[key])


def test_grain_random_map_gives_the_same_masks_under_reader_threads():
    grain = pytest.importorskip("grain")
    sequences = np.random.default_rng(8).integers(2, 100, size=(12, 10))

    def masked(seed):
        masker = make_masker(mask_selection_length=4, seed=0)
        dataset = grain.MapDataset.source(list(sequences)).batch(3)
        return dataset.random_map(masker.random_map, seed=seed)

    threaded = list(masked(seed=3))  # grain's default reader threads
    in_order = [masked(seed=3)[index] for index in range(4)]
    other_seed = list(masked(seed=4))
    assert len(threaded) == 4
    for index, (batch, reference) in enumerate(zip(threaded, in_order)):
        for key in reference:
            np.testing.assert_array_equal(batch[key], reference[key])
        # The labels are the batch's own original tokens at the masked positions.
        original = sequences[3 * index : 3 * index + 3]
        labels = np.take_along_axis(original, batch["mask_positions"], axis=1)
        real = batch["mask_weights"] > 0
        assert real.any()
        np.testing.assert_array_equal(batch["mask_ids"][real], labels[real])
    assert any(
        not np.array_equal(batch["mask_positions"], other["mask_positions"])
        for batch, other in zip(threaded, other_seed)
    )


@pytest.mark.parametrize(
    "inputs, rng, match",
    [
        ([[2, 3, 4]], 5, r"`rng` must be a numpy.random.Generator .* Received: rng=5"),
        ([[2, 3, 4]], np.random.RandomState(0), r"`rng` must be a numpy.random.Generator"),
    ],
)
def test_random_map_refuses_what_is_not_a_generator(inputs, rng, match):
    with pytest.raises(ValueError, match=match):
        make_masker().random_map(inputs, rng)


def test_random_map_refuses_tensors():
    ids = keras.ops.convert_to_tensor(np.array([[2, 3, 4]]))
    with pytest.raises(ValueError, match=r"`random_map` masks numpy arrays or lists"):
        make_masker().random_map(ids, np.random.default_rng(0))


def test_backend_tensor_input_gives_the_same_masks_as_numpy():
    inputs = np.random.default_rng(7).integers(2, 100, size=(4, 10)).astype("int32")
    from_numpy = as_numpy(make_masker(seed=9)(inputs))
    from_tensor = as_numpy(make_masker(seed=9)(keras.ops.convert_to_tensor(inputs)))
    for key in from_numpy:
        np.testing.assert_array_equal(from_numpy[key], from_tensor[key])


def test_list_of_backend_tensor_rows_is_a_batch():
    rows = [keras.ops.convert_to_tensor(np.array(row, "int32")) for row in ([4, 5, 6], [7, 8])]
    outputs = make_masker(mask_selection_rate=1.0, mask_token_rate=1.0, random_token_rate=0)(rows)
    assert [row.tolist() for row in outputs["token_ids"]] == [[1, 1, 1], [1, 1]]


def test_ragged_rows_without_length_give_one_array_per_row():
    masker = make_masker(mask_selection_rate=0.5)
    inputs = [[4, 5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15]]
    outputs = masker(inputs)
    assert [len(row) for row in outputs["token_ids"]] == [4, 2, 6]
    assert [len(row) for row in outputs["mask_positions"]] == [2, 1, 3]
    for positions, ids, row in zip(outputs["mask_positions"], outputs["mask_ids"], inputs):
        assert ids.tolist() == [row[p] for p in positions]


def test_object_array_of_rows_is_a_ragged_batch():
    rows = np.empty(2, dtype=object)
    rows[0], rows[1] = np.array([4, 5, 6]), np.array([7, 8])
    outputs = make_masker(mask_selection_rate=1.0, mask_token_rate=1.0, random_token_rate=0)(rows)
    assert [row.tolist() for row in outputs["token_ids"]] == [[1, 1, 1], [1, 1]]


def test_unbatched_input_without_length_gives_one_entry_per_pick():
    outputs = make_masker(mask_selection_rate=0.5)(np.arange(2, 9))  # ceil(7 / 2) = 4
    assert tuple(outputs["mask_positions"].shape) == (4,)
    assert to_numpy(outputs["mask_weights"]).tolist() == [1, 1, 1, 1]


def test_compute_output_shape_pads_to_the_selection_length():
    masker = make_masker(mask_selection_length=5)
    assert masker.compute_output_shape((None, 12)) == {
        "token_ids": (None, 12),
        "mask_positions": (None, 5),
        "mask_ids": (None, 5),
        "mask_weights": (None, 5),
    }


def test_symbolic_call_returns_specs_matching_compute_output_shape():
    masker = make_masker(mask_selection_length=5)
    outputs = masker(keras.Input((12,), dtype="int32"))
    assert {key: value.shape for key, value in outputs.items()} == masker.compute_output_shape(
        (None, 12)
    )
    assert outputs["mask_weights"].dtype == "float32"


# Configuration and saving.


def test_config_round_trip_reproduces_the_masks():
    masker = make_masker(
        mask_selection_length=4, unselectable_token_ids=[0, 2, 3], mask_token_rate=0.7, seed=11
    )
    clone = assert_config_round_trip(masker)
    inputs = np.random.default_rng(8).integers(0, 100, size=(4, 10))
    expected, actual = as_numpy(masker(inputs)), as_numpy(clone(inputs))
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key])


def test_config_holds_every_constructor_argument():
    config = make_masker(mask_selection_length=4).get_config()
    for key in (
        "vocabulary_size",
        "mask_selection_rate",
        "mask_token_id",
        "mask_selection_length",
        "unselectable_token_ids",
        "mask_token_rate",
        "random_token_rate",
        "seed",
    ):
        assert key in config


def test_layer_reloads_from_a_keras_file(tmp_path):
    masker = make_masker(mask_selection_length=4, seed=5, name="masker")
    inputs = keras.Input((10,), dtype="int32")
    model = keras.Model(inputs, masker(inputs))
    path = os.path.join(tmp_path, "masker.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path).get_layer("masker")
    assert isinstance(reloaded, MaskedLMMaskGenerator)
    assert reloaded.get_config() == masker.get_config()
    ids = np.random.default_rng(9).integers(2, 100, size=(3, 10))
    np.testing.assert_array_equal(
        to_numpy(reloaded(ids)["mask_positions"]),
        to_numpy(make_masker(mask_selection_length=4, seed=5)(ids)["mask_positions"]),
    )


# tf.data (only where TensorFlow is installed).


def test_tf_data_batch_then_map_matches_map_then_batch_shapes():
    tf = pytest.importorskip("tensorflow")
    dataset = tf.data.Dataset.from_tensor_slices(tf.ones((100, 10), dtype="int32"))
    masker = MaskedLMMaskGenerator(
        vocabulary_size=HUB_VOCABULARY_SIZE,
        mask_selection_rate=0.5,
        mask_token_id=HUB_MASK_ID,
        mask_selection_length=5,
    )
    batch_first = dataset.batch(8).map(masker).take(1).get_single_element()
    batch_second = dataset.map(masker).batch(8).take(1).get_single_element()
    for key in batch_first:
        assert batch_first[key].shape == batch_second[key].shape
    assert batch_first["mask_positions"].shape == (8, 5)


def test_tf_data_gives_the_same_masks_as_eager_calls():
    tf = pytest.importorskip("tensorflow")
    inputs = np.random.default_rng(10).integers(0, 100, size=(6, 10)).astype("int32")
    eager = as_numpy(make_masker(mask_selection_length=4, seed=3)(inputs))
    dataset = tf.data.Dataset.from_tensor_slices(inputs).batch(6)
    in_graph = dataset.map(make_masker(mask_selection_length=4, seed=3)).get_single_element()
    for key in eager:
        np.testing.assert_array_equal(in_graph[key].numpy(), eager[key])


def test_tf_data_ragged_batch_keeps_rows_ragged():
    tf = pytest.importorskip("tensorflow")
    rows = tf.ragged.constant([[4, 5, 6, 7], [8, 9], [10, 11, 12]])
    dataset = tf.data.Dataset.from_tensor_slices(rows).ragged_batch(3)
    outputs = dataset.map(make_masker(mask_selection_rate=0.5)).get_single_element()
    assert isinstance(outputs["token_ids"], tf.RaggedTensor)
    assert outputs["token_ids"].row_lengths().numpy().tolist() == [4, 2, 3]
    assert outputs["mask_positions"].row_lengths().numpy().tolist() == [2, 1, 2]


def test_tf_data_masks_feed_model_fit():
    tf = pytest.importorskip("tensorflow")
    masker = make_masker(mask_selection_length=3)
    inputs = np.random.default_rng(11).integers(2, 100, size=(16, 8)).astype("int32")
    dataset = (
        tf.data.Dataset.from_tensor_slices(inputs)
        .batch(4)
        .map(masker)
        .map(lambda masked: (masked["token_ids"], masked["mask_weights"]))
    )
    token_ids = keras.Input((8,), dtype="int32")
    hidden = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(100, 4)(token_ids))
    model = keras.Model(token_ids, keras.layers.Dense(3)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_tf_data_error_names_out_of_vocabulary_ids():
    tf = pytest.importorskip("tensorflow")
    dataset = tf.data.Dataset.from_tensor_slices([[3, 400]]).map(make_masker())
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
        dataset.get_single_element()


def test_works_without_importing_tensorflow():
    if backend() == "tensorflow":
        pytest.skip("the TensorFlow backend imports TensorFlow itself")
    script = (
        "import sys, numpy as np\n"
        "from keras_embed.preprocessing.masked_lm_mask_generator import MaskedLMMaskGenerator\n"
        "out = MaskedLMMaskGenerator(10, 0.5, 1, mask_selection_length=2, seed=0)"
        "(np.array([[2, 3, 4, 5]]))\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=dict(os.environ))


# Bad arguments and inputs.


@pytest.mark.parametrize("mask_token_id", [100, -1, 1.0, True, "1", None])
def test_rejects_mask_token_outside_the_vocabulary(mask_token_id):
    with pytest.raises(ValueError, match="`mask_token_id` must be an integer id in the vocab"):
        make_masker(mask_token_id=mask_token_id)


@pytest.mark.parametrize(
    "argument", ["mask_selection_rate", "mask_token_rate", "random_token_rate"]
)
@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), float("inf"), "0.5", None, True])
def test_rejects_rates_outside_zero_one(argument, rate):
    with pytest.raises(ValueError, match=f"`{argument}` must be a number in \\[0, 1\\]"):
        make_masker(**{argument: rate})


def test_rejects_replacement_rates_summing_past_one():
    with pytest.raises(ValueError, match="must not exceed 1"):
        make_masker(mask_token_rate=0.8, random_token_rate=0.3)


def test_accepts_replacement_rates_summing_to_exactly_one():
    masker = make_masker(mask_token_rate=0.7, random_token_rate=0.3)
    assert masker.mask_token_rate + masker.random_token_rate == pytest.approx(1.0)


@pytest.mark.parametrize("length", [-1, 2.0, "3"])
def test_rejects_a_selection_length_that_is_not_a_count(length):
    with pytest.raises(ValueError, match="`mask_selection_length` must be a non-negative integer"):
        make_masker(mask_selection_length=length)


@pytest.mark.parametrize("size", [0, -5, 10.0, None, True])
def test_rejects_a_vocabulary_size_that_is_not_positive(size):
    with pytest.raises(ValueError, match="`vocabulary_size` must be a positive integer"):
        make_masker(vocabulary_size=size)


@pytest.mark.parametrize("ids", [0, [0, 1.5], ["0"], None])
def test_rejects_unselectable_ids_that_are_not_a_list_of_integers(ids):
    with pytest.raises(ValueError, match="`unselectable_token_ids` must be a list"):
        make_masker(unselectable_token_ids=ids)


@pytest.mark.parametrize("seed", [-3, 1.5, "0"])
def test_rejects_a_seed_that_is_not_a_non_negative_integer(seed):
    with pytest.raises(ValueError, match="`seed` must be a non-negative integer"):
        make_masker(seed=seed)


@pytest.mark.parametrize(
    "inputs, match",
    [
        (None, r"`inputs` must be a 1-D sequence or a 2-D batch .* Received: None"),
        ("3 4 5", r"`inputs` must be a 1-D sequence or a 2-D batch .* Received: '3 4 5'"),
        (np.array([["3", "4"]]), r"`inputs` must hold integer token ids. Received dtype <U1"),
        ([["a", "b"], ["c"]], r"`inputs\[0\]` must hold integer token ids. Received dtype <U1"),
        (np.array([[True, False]]), r"`inputs` must hold integer token ids. Received dtype bool"),
        (np.array([[1.0, 2.5]]), r"`inputs` must hold integer ids.*2\.5 at index \(0, 1\)"),
        (np.array([3.0, np.nan]), r"`inputs` must hold integer ids.*nan at index \(1,\)"),
        (np.array([[4, 5], [100, 6]]), r"`inputs` holds the id 100 at index \(1, 0\), outside"),
        ([[4, 5], [6, -1, 7]], r"`inputs\[1\]` holds the id -1 at index \(1,\), outside"),
        (np.array([1e30]), r"`inputs` holds the id 1000000000000000019884624838656 at index"),
        (np.ones((2, 2, 2), "int32"), r"`inputs` must be a 1-D sequence or a 2-D batch"),
        (7, r"`inputs` must be a 1-D sequence or a 2-D batch .* shape \(\)"),
        ([[1, [2]]], r"`inputs\[0\]` must be a 1-D sequence of integer token ids"),
    ],
)
def test_rejects_bad_inputs_naming_what_arrived(inputs, match):
    with pytest.raises(ValueError, match=match):
        make_masker()(inputs)


def test_rejects_bad_backend_tensor_inputs_as_numpy_ones():
    with pytest.raises(ValueError, match=r"`inputs` must hold integer ids.*2\.5 at index \(0, 1\)"):
        make_masker()(keras.ops.convert_to_tensor(np.array([[1.0, 2.5]], "float32")))


def test_keras_ops_path_rejects_fractional_eager_ids_and_wrong_ranks():
    masker = make_masker(mask_selection_length=2)
    with pytest.raises(ValueError, match=r"`inputs` must hold integer ids.*2\.5"):
        masker._call_with_keras_ops(keras.ops.convert_to_tensor(np.array([[1.0, 2.5]], "float32")))
    with pytest.raises(ValueError, match="1-D sequence or a 2-D batch"):
        masker._call_with_keras_ops(keras.ops.ones((2, 2, 2), dtype="int32"))


def test_tf_data_rejects_string_and_rank_three_ids():
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(ValueError, match="must hold integer token ids. Received dtype string"):
        tf.data.Dataset.from_tensors(tf.constant([["3", "4"]])).map(make_masker())
    with pytest.raises(ValueError, match="1-D sequence or a 2-D batch"):
        tf.data.Dataset.from_tensors(tf.ones((2, 2, 2), "int32")).map(make_masker())


def test_whole_number_float_inputs_mask_like_integers():
    ids = np.random.default_rng(3).integers(2, 100, size=(2, 8))
    from_ints = make_masker(seed=2, mask_selection_length=3)(ids)
    from_floats = make_masker(seed=2, mask_selection_length=3)(ids.astype("float32"))
    for key in from_ints:
        np.testing.assert_array_equal(from_floats[key], from_ints[key])


@pytest.mark.parametrize("inputs", [np.zeros((2, 0), "int32"), [[], []], np.zeros((0,), "int32")])
def test_empty_rows_give_zero_weights_in_every_slot(inputs):
    outputs = as_numpy(make_masker(mask_selection_length=3)(inputs))
    assert outputs["mask_weights"].shape[-1] == 3
    assert outputs["mask_weights"].sum() == 0


def test_traced_inputs_without_a_selection_length_are_refused():
    if backend() != "jax":
        pytest.skip("jax.jit traces; tf.function runs the tf.data path, torch.compile falls back")
    masker = make_masker()
    with pytest.raises(ValueError, match="needs `mask_selection_length`"):
        compiled(lambda ids: masker(ids)["token_ids"])(np.ones((2, 4), dtype="int32"))


# Inside compiled functions and models.


def check_masks_follow_the_rule(ids, outputs, rate, slots, unselectable=(0,)):
    """Counts, order, ids and replacements of one masked batch, row by row."""
    outputs = as_numpy(outputs)
    for row in range(ids.shape[0]):
        selectable = ~np.isin(ids[row], unselectable)
        count = min(math.ceil(selectable.sum() * rate), slots)
        weights = outputs["mask_weights"][row]
        np.testing.assert_array_equal(weights, np.arange(slots) < count)
        positions = outputs["mask_positions"][row][:count]
        assert list(positions) == sorted(set(positions.tolist()))  # distinct, increasing
        assert selectable[positions].all()
        np.testing.assert_array_equal(outputs["mask_ids"][row][:count], ids[row][positions])
        assert (outputs["mask_positions"][row][count:] == 0).all()
        unpicked = np.setdiff1d(np.arange(ids.shape[1]), positions)
        np.testing.assert_array_equal(outputs["token_ids"][row][unpicked], ids[row][unpicked])
        assert (outputs["token_ids"][row][positions] == 1).all()  # mask_token_rate=1


def test_compiled_call_masks_by_the_rule():
    # Through the layer's call, under jax.jit, tf.function (the tf.data path) or torch.compile.
    ids = np.random.default_rng(4).integers(0, 100, size=(5, 12)).astype("int32")
    ids[:, -3:] = 0  # padding
    masker = make_masker(mask_selection_length=4, mask_token_rate=1.0, random_token_rate=0.0)
    outputs = compiled(lambda x: masker(x))(keras.ops.convert_to_tensor(ids))
    check_masks_follow_the_rule(ids, outputs, rate=0.5, slots=4)


def test_compiled_model_predict_runs_the_masker_as_a_backend_op():
    masker = make_masker(mask_selection_length=3, mask_token_rate=1.0, random_token_rate=0.0)
    inputs = keras.Input(shape=(10,), dtype="int32")
    model = keras.Model(inputs, masker(inputs))
    ids = np.random.default_rng(5).integers(1, 100, size=(4, 10)).astype("int32")
    outputs = model.predict(ids, verbose=0, batch_size=2)
    check_masks_follow_the_rule(ids, outputs, rate=0.5, slots=3)


def test_keras_ops_path_masks_one_sequence():
    masker = make_masker(mask_selection_length=SLOTS, mask_token_rate=1.0, random_token_rate=0.0)
    ids = np.random.default_rng(6).integers(0, 100, size=(12,)).astype("int32")
    single = masker._call_with_keras_ops(keras.ops.convert_to_tensor(ids))
    assert tuple(single["mask_positions"].shape) == (SLOTS,)
    batch_of_one = {key: to_numpy(value)[None] for key, value in single.items()}
    check_masks_follow_the_rule(ids[None], batch_of_one, rate=0.5, slots=SLOTS)
