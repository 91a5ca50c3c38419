"""Pre-trained vectors into ReversibleEmbedding: alignment, coverage, freezing, saving."""

import os

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip, assert_saves_and_loads, to_numpy

from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import SemiFrozenReversibleEmbedding
from keras_embed.vectors import Vectors, align_vectors, from_layer

embedding_from_vectors = ReversibleEmbedding.from_vectors

WORDS = ["the", "cat", "Paris", "sat"]
MATRIX = np.arange(12, dtype=np.float32).reshape(4, 3) / 10


@pytest.fixture
def vectors():
    return Vectors(WORDS, MATRIX)


# Alignment and coverage ---------------------------------------------------------------------


def test_rows_follow_the_vocabulary_order(vectors):
    table, coverage = align_vectors(vectors, ["sat", "the"])
    np.testing.assert_array_equal(table, MATRIX[[3, 0]])
    assert (coverage.found, coverage.missing, coverage.case_folded) == (2, 0, 0)


def test_case_folded_matches_are_counted_apart_from_exact_ones(vectors):
    table, coverage = align_vectors(vectors, ["THE", "paris", "cat", "dog"], missing="zeros")
    np.testing.assert_array_equal(table, np.stack([MATRIX[0], MATRIX[2], MATRIX[1], np.zeros(3)]))
    assert (coverage.found, coverage.case_folded, coverage.missing) == (1, 2, 1)
    assert coverage.missing_tokens == ["dog"]
    assert coverage.ratio == pytest.approx(3 / 4)


def test_case_folding_can_be_turned_off(vectors):
    _, coverage = align_vectors(vectors, ["THE"], case_fold=False, missing="zeros")
    assert (coverage.found, coverage.case_folded, coverage.missing) == (0, 0, 1)


def test_matched_normal_draws_with_the_vectors_per_dimension_statistics():
    rng = np.random.default_rng(0)
    matrix = (rng.normal(size=(500, 3)) * [1.0, 5.0, 0.1] + [2.0, -1.0, 0.0]).astype(np.float32)
    source = Vectors([f"w{i}" for i in range(500)], matrix)
    table, coverage = align_vectors(source, [f"new{i}" for i in range(4000)], seed=1)
    assert coverage.missing == 4000
    # Sample statistics of 4000 draws: within ~4 standard errors of the source's.
    assert np.all(np.abs(table.mean(axis=0) - matrix.mean(axis=0)) < 4 * matrix.std(axis=0) / 63)
    np.testing.assert_allclose(table.std(axis=0), matrix.std(axis=0), rtol=0.05)


def test_missing_rows_are_reproducible_with_a_seed(vectors):
    first, _ = align_vectors(vectors, ["x", "y"], seed=3)
    second, _ = align_vectors(vectors, ["x", "y"], seed=3)
    np.testing.assert_array_equal(first, second)


def test_string_lookup_reserved_rows_are_placed_where_it_says(vectors):
    lookup = keras.layers.StringLookup(vocabulary=["cat", "dog", "the"], mask_token="", num_oov_indices=2)
    layer, coverage = embedding_from_vectors(vectors, lookup, missing="zeros")
    # StringLookup order: mask "" at 0, two OOV rows, then the vocabulary.
    table = to_numpy(layer.embeddings)
    np.testing.assert_array_equal(table[[0, 1, 2, 4]], np.zeros((4, 3)))
    np.testing.assert_array_equal(table[[3, 5]], MATRIX[[1, 0]])
    assert (coverage.total, coverage.reserved, coverage.found, coverage.missing) == (6, 3, 2, 1)
    assert layer.mask_zero
    ids = lookup(np.array(["the", "dog", "unknown"]))
    np.testing.assert_array_equal(to_numpy(layer(ids))[0], MATRIX[0])


def test_mask_zero_keeps_row_zero_as_padding(vectors):
    layer, coverage = embedding_from_vectors(vectors, ["the", "cat"], mask_zero=True)
    np.testing.assert_array_equal(to_numpy(layer.embeddings), [[0, 0, 0], MATRIX[1]])
    assert coverage.padding_rows == [0]


def test_subwords_strategy_needs_fasttext_vectors(vectors):
    with pytest.raises(ValueError, match="needs vectors loaded from a fastText .bin"):
        align_vectors(vectors, ["dog"], missing="subwords")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"trainable": "yes"}, "`trainable` must be True, False or 'missing_only'"),
        ({"trainable": 1}, "`trainable` must be True, False or 'missing_only'"),
        ({"missing": "gaussian"}, "`missing` must be one of"),
        ({"vocabulary": "the cat"}, "`vocabulary` must be None, a list of tokens"),
        ({"vocabulary": []}, "`vocabulary` is empty"),
        ({"input_dim": 9}, "`input_dim` comes from the vectors"),
    ],
)
def test_bad_arguments_are_refused(vectors, kwargs, match):
    with pytest.raises(ValueError, match=match):
        embedding_from_vectors(vectors, **kwargs)


# Freezing -----------------------------------------------------------------------------------

VOCABULARY = ["[PAD]", "the", "dog", "cat", "emu"]  # "dog" and "emu" are missing.
PRETRAINED = [1, 3]
TRAINABLE = [2, 4]


def fit_two_steps(layer, optimizer):
    """Forward and tied reverse pass, so gradients reach the table both ways."""
    ids = keras.Input(shape=(3,), dtype="int32")
    logits = layer(layer(ids), reverse=True)
    model = keras.Model(ids, logits)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.array([[1, 2, 3], [4, 2, 0], [3, 1, 4], [2, 4, 1]], dtype="int32")
    model.fit(x, x[:, ::-1], epochs=2, batch_size=2, verbose=0)
    return model, x


OPTIMIZERS = {
    "adamw_weight_decay": lambda: keras.optimizers.AdamW(0.05, weight_decay=0.5),
    "sgd_momentum_weight_decay": lambda: keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=0.1),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_missing_only_keeps_pretrained_rows_bit_identical_through_fit(vectors, optimizer, dtype_policy):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable="missing_only", mask_zero=True, seed=0)
    assert isinstance(layer, SemiFrozenReversibleEmbedding)
    before = to_numpy(layer.embeddings).copy()
    fit_two_steps(layer, OPTIMIZERS[optimizer]())
    after = to_numpy(layer.embeddings)
    np.testing.assert_array_equal(after[PRETRAINED], MATRIX[[0, 1]])
    np.testing.assert_array_equal(after[0], np.zeros(3))  # Padding stays zero too.
    assert not np.array_equal(after[TRAINABLE], before[TRAINABLE])


def test_missing_only_trains_only_the_missing_rows_variable(vectors):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable="missing_only", mask_zero=True)
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["trainable_embeddings"]
    assert layer.trainable_row_ids.tolist() == TRAINABLE
    layer.trainable = False
    layer.trainable = True  # Unfreezing the layer must not unfreeze the pre-trained table.
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["trainable_embeddings"]


def test_missing_only_forward_equals_the_merged_table(vectors):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable="missing_only", seed=0)
    ids = np.array([[0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(to_numpy(layer(ids))[0], to_numpy(layer.embeddings))


def test_missing_only_out_of_range_ids_raise_eagerly(vectors):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable="missing_only")
    with pytest.raises(ValueError, match="outside the valid range"):
        layer(np.array([5]))


def test_trainable_false_keeps_every_row_bit_identical_through_fit(vectors):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable=False, seed=0)
    before = to_numpy(layer.embeddings).copy()
    assert layer.trainable_weights == []
    fit_two_steps(layer, OPTIMIZERS["adamw_weight_decay"]())
    np.testing.assert_array_equal(to_numpy(layer.embeddings), before)


def test_trainable_true_fine_tunes_pretrained_rows(vectors):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable=True, seed=0)
    fit_two_steps(layer, keras.optimizers.SGD(0.5))
    assert not np.array_equal(to_numpy(layer.embeddings)[PRETRAINED], MATRIX[[0, 1]])


def test_semi_frozen_layer_config_round_trips(vectors):
    layer, _ = embedding_from_vectors(vectors, VOCABULARY, trainable="missing_only", tie_weights=False)
    clone = assert_config_round_trip(layer)
    # "[PAD]" is not masked here, so it is a missing token too: 3 trainable rows.
    assert clone.num_trainable_rows == 3 and not clone.tie_weights


def test_semi_frozen_model_saves_loads_and_stays_frozen(vectors, tmp_path):
    layer, _ = embedding_from_vectors(
        vectors, VOCABULARY, trainable="missing_only", mask_zero=True, seed=0
    )
    model, x = fit_two_steps(layer, OPTIMIZERS["adamw_weight_decay"]())
    reloaded = assert_saves_and_loads(model, x, tmp_path)
    loaded_layer = next(
        lay for lay in reloaded.layers if isinstance(lay, SemiFrozenReversibleEmbedding)
    )
    np.testing.assert_array_equal(to_numpy(loaded_layer.embeddings), to_numpy(layer.embeddings))
    assert loaded_layer.trainable_row_ids.tolist() == TRAINABLE


def test_semi_frozen_from_vectors_returns_its_own_class_for_every_trainable_setting(vectors):
    # True: every row trains; False: none does; "missing_only": the rows without a vector.
    expected_rows = {True: [0, 1, 2, 3, 4], False: [], "missing_only": TRAINABLE}
    for trainable, rows in expected_rows.items():
        layer, _ = SemiFrozenReversibleEmbedding.from_vectors(
            vectors, VOCABULARY, trainable=trainable, mask_zero=True, seed=0
        )
        assert type(layer) is SemiFrozenReversibleEmbedding
        assert layer.trainable_row_ids.tolist() == rows
        assert layer.trainable is (trainable is not False)


def test_from_vectors_builds_the_subclass_it_is_called_on(vectors):
    class TaggedEmbedding(ReversibleEmbedding):
        pass

    layer, _ = TaggedEmbedding.from_vectors(vectors, VOCABULARY, trainable=False)
    assert type(layer) is TaggedEmbedding and not layer.trainable
    np.testing.assert_array_equal(to_numpy(layer.embeddings)[PRETRAINED], MATRIX[[0, 1]])
    semi_frozen, _ = TaggedEmbedding.from_vectors(vectors, VOCABULARY, trainable="missing_only")
    assert type(semi_frozen) is SemiFrozenReversibleEmbedding


def test_semi_frozen_layer_keeps_its_registered_name_and_public_homes():
    import keras_embed.layers

    assert SemiFrozenReversibleEmbedding is keras_embed.layers.SemiFrozenReversibleEmbedding
    assert keras.saving.get_registered_name(SemiFrozenReversibleEmbedding) == (
        "keras_embed>SemiFrozenReversibleEmbedding"
    )


@pytest.mark.parametrize("name", ["SemiFrozenReversibleEmbedding", "embedding_from_vectors"])
def test_layer_names_the_vectors_package_no_longer_exports_say_where_they_moved(name):
    import keras_embed.vectors

    with pytest.raises(AttributeError, match=f"{name}` moved to `keras_embed.layers"):
        getattr(keras_embed.vectors, name)


def test_semi_frozen_model_saved_by_version_0_1_loads(tmp_path):
    # Saved before the layer moved from keras_embed.vectors to keras_embed.layers.
    path = os.path.join(os.path.dirname(__file__), "fixtures", "semi_frozen_v0_1.keras")
    layer = keras.saving.load_model(path).get_layer("words")
    assert type(layer) is SemiFrozenReversibleEmbedding
    assert layer.trainable_row_ids.tolist() == [2]
    # Rows 1 and 3 hold "cat" and "the" of the fixture's 3 x 4 matrix arange(12) / 10; row 0 pads.
    table = to_numpy(layer.embeddings)
    np.testing.assert_allclose(table[[0, 1, 3]], [[0, 0, 0, 0], [0.4, 0.5, 0.6, 0.7], [0, 0.1, 0.2, 0.3]])


# Layers back into vectors --------------------------------------------------------------------


def test_from_layer_queries_the_layer_table(vectors):
    layer, _ = embedding_from_vectors(vectors)
    back = from_layer(layer, WORDS)
    np.testing.assert_array_equal(back.matrix, MATRIX)
    assert back.most_similar("the", topn=1) == vectors.most_similar("the", topn=1)


def test_from_layer_names_repeated_reserved_tokens_apart():
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], num_oov_indices=2)
    layer = ReversibleEmbedding(4, 2)
    layer.build()
    assert from_layer(layer, lookup).words == ["[UNK]", "[UNK]#1", "a", "b"]


def test_from_layer_refuses_an_unbuilt_layer():
    with pytest.raises(ValueError, match="must be a built embedding layer"):
        from_layer(ReversibleEmbedding(4, 2))
