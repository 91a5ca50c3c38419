"""The contract every public layer keeps, checked once per layer from one registry.

Each registry entry names a public layer, how to build a small one, a small valid
input, whether it takes ids, and whether int8 quantization applies. The checks
compare values: a rebuilt or reloaded layer gives the same outputs, a fit step
moves the weights, mixed_bfloat16 stays close to float32, a compiled call and a
`Sequential` without `Input` give the eager outputs.

This module replaces the per-layer copies of the "config, save, fit, mixed
precision" recipe, which were removed from: test_qr_embedding.py,
test_hash_embedding.py, test_subword_embedding.py and
test_mixed_dimension_embedding.py (each `test_config_save_fit_and_mixed_precision`).
A new public layer must get an entry here: `test_every_public_layer_is_registered`
fails until it does.
"""

import dataclasses
import inspect
from typing import Callable

import keras
import numpy as np
import pytest
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import compiled
from embed_testing import jit_compile_supported
from embed_testing import to_numpy

from keras_embed import layers as public_layers

BATCH, SEQUENCE, WIDTH, VOCABULARY = 2, 6, 8, 20


def _rng():
    return np.random.default_rng(0)


def _ids(high, shape=(BATCH, SEQUENCE), low=0):
    return _rng().integers(low, high, size=shape).astype("int32")


def _floats(*shape):
    return _rng().standard_normal(shape).astype("float32")


def _adapted_categorical_embeddings():
    layer = public_layers.CategoricalEmbeddings(["city"], numeric_columns=["age"], embedding_dims=3, num_oov_buckets=2)
    layer.adapt({"city": np.array(["Paris", "Oslo", "Paris", "Rome"]), "age": np.array([31.0, 45.0, 27.0, 60.0])})
    return layer


def _semi_frozen_with_rows(trainable_row_ids):
    """A fresh layer trains no row until `assign_table` says which."""
    layer = public_layers.SemiFrozenReversibleEmbedding(VOCABULARY, WIDTH, num_trainable_rows=len(trainable_row_ids))
    layer.build((None,))
    layer.assign_table(_floats(VOCABULARY, WIDTH), trainable_row_ids)
    return layer


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """How to build and feed one small instance of a public layer."""

    make: Callable[[], keras.layers.Layer]
    inputs: Callable[[], tuple]
    takes_ids: bool = False
    quantizes: bool = False
    trains: bool = True
    call: Callable = staticmethod(lambda layer, *inputs: layer(*inputs))


# One entry per public layer; keep shapes tiny so each case runs in well under a second.
REGISTRY = {
    "AxialRotaryEmbedding": LayerCase(
        make=lambda: public_layers.AxialRotaryEmbedding(learnable=True, seed=1),
        inputs=lambda: (_floats(BATCH, 9, WIDTH),),
    ),
    "CategoricalEmbeddings": LayerCase(
        make=_adapted_categorical_embeddings,
        # Already-preprocessed columns: city ids (3 words + 2 OOV buckets) and a numeric column.
        inputs=lambda: (_ids(5, (BATCH,)), _floats(BATCH, 1)[:, 0]),
        takes_ids=True,
        quantizes=True,
        call=staticmethod(lambda layer, city, age: layer({"city": city, "age": age})),
    ),
    "Embedding": LayerCase(
        make=lambda: public_layers.Embedding(VOCABULARY, WIDTH, mask_zero=True),
        inputs=lambda: (_ids(VOCABULARY),),
        takes_ids=True,
        quantizes=True,
    ),
    "EmbeddingBag": LayerCase(
        make=lambda: public_layers.EmbeddingBag(VOCABULARY, WIDTH, combiner="sum"),
        inputs=lambda: (_ids(VOCABULARY),),
        takes_ids=True,
    ),
    "HashEmbedding": LayerCase(
        make=lambda: public_layers.HashEmbedding(64, WIDTH, num_importance_buckets=32, seed=5),
        inputs=lambda: (_ids(1000),),
        takes_ids=True,
    ),
    "LieRotaryEmbedding": LayerCase(
        make=lambda: public_layers.LieRotaryEmbedding(block_size=4),
        inputs=lambda: (_floats(BATCH, 9, WIDTH),),
    ),
    "MaskedLMHead": LayerCase(
        make=lambda: public_layers.MaskedLMHead(vocabulary_size=VOCABULARY),
        inputs=lambda: (_floats(BATCH, SEQUENCE, WIDTH), _ids(SEQUENCE, (BATCH, 2))),
    ),
    "MaskedLMMaskGenerator": LayerCase(
        make=lambda: public_layers.MaskedLMMaskGenerator(
            vocabulary_size=VOCABULARY, mask_selection_rate=0.5, mask_token_id=1, mask_selection_length=3, seed=3
        ),
        inputs=lambda: (_ids(VOCABULARY, low=2),),
        takes_ids=True,
        trains=False,
    ),
    "MixedDimensionEmbedding": LayerCase(
        make=lambda: public_layers.MixedDimensionEmbedding([10, 40], WIDTH, dims=[8, 3]),
        inputs=lambda: (_ids(50),),
        takes_ids=True,
        quantizes=True,
    ),
    "MultimodalRotaryEmbedding": LayerCase(
        make=lambda: public_layers.MultimodalRotaryEmbedding([2, 1, 1], interleaved=True),
        inputs=lambda: (_floats(BATCH, SEQUENCE, WIDTH),),
    ),
    "PositionEmbedding": LayerCase(
        make=lambda: public_layers.PositionEmbedding(sequence_length=SEQUENCE),
        inputs=lambda: (_floats(BATCH, SEQUENCE, WIDTH),),
    ),
    "QREmbedding": LayerCase(
        make=lambda: public_layers.QREmbedding(50, WIDTH, num_collisions=8, operation="add", mask_zero=True),
        inputs=lambda: (_ids(50),),
        takes_ids=True,
    ),
    "ReversibleEmbedding": LayerCase(
        make=lambda: public_layers.ReversibleEmbedding(VOCABULARY, WIDTH),
        inputs=lambda: (_ids(VOCABULARY),),
        takes_ids=True,
        quantizes=True,
    ),
    "RotaryEmbedding": LayerCase(
        make=lambda: public_layers.RotaryEmbedding(max_wavelength=500),
        inputs=lambda: (_floats(BATCH, SEQUENCE, WIDTH),),
    ),
    "SemiFrozenReversibleEmbedding": LayerCase(
        make=lambda: _semi_frozen_with_rows([1, 5, 9]),
        inputs=lambda: (_ids(VOCABULARY),),
        takes_ids=True,
    ),
    "SinePositionEncoding": LayerCase(
        make=lambda: public_layers.SinePositionEncoding(max_wavelength=500),
        inputs=lambda: (_floats(BATCH, SEQUENCE, WIDTH),),
    ),
    "SubwordEmbedding": LayerCase(
        make=lambda: public_layers.SubwordEmbedding(5, 30, WIDTH, minn=2, maxn=4, combiner="sum"),
        inputs=lambda: (_ids(35, (BATCH, 3, 6), low=-1),),
        takes_ids=True,
        quantizes=True,
    ),
    "TokenAndPositionEmbedding": LayerCase(
        make=lambda: public_layers.TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, WIDTH, mask_zero=True),
        inputs=lambda: (_ids(VOCABULARY),),
        takes_ids=True,
        quantizes=True,
    ),
}

TRAINABLE = sorted(name for name, case in REGISTRY.items() if case.trains)
SINGLE_INPUT = sorted(name for name in TRAINABLE if len(REGISTRY[name].inputs()) == 1)
QUANTIZABLE = sorted(name for name, case in REGISTRY.items() if case.quantizes)


def _outputs(case, layer, inputs):
    return to_numpy(keras.ops.cast(case.call(layer, *inputs), "float32"))


def _model(case, layer):
    """`layer` between typed `Input`s and a Dense head, so every case has a weight to train."""
    symbolic = [keras.Input(x.shape[1:], dtype=str(x.dtype)) for x in case.inputs()]
    outputs = keras.layers.Dense(1)(case.call(layer, *symbolic))
    return keras.Model(symbolic if len(symbolic) > 1 else symbolic[0], outputs)


def _model_inputs(inputs):
    return list(inputs) if len(inputs) > 1 else inputs[0]


def test_every_public_layer_is_registered():
    public = {
        name
        for name, value in vars(public_layers).items()
        if not name.startswith("_") and inspect.isclass(value) and issubclass(value, keras.layers.Layer)
    }
    assert public == set(REGISTRY), "register new public layers in REGISTRY (and drop removed ones)"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_config_round_trip_rebuilds_an_identical_layer(name):
    case = REGISTRY[name]
    layer = case.make()
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    if case.trains:
        inputs = case.inputs()
        expected = _outputs(case, layer, inputs)
        case.call(clone, *inputs)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(_outputs(case, clone, inputs), expected)


@pytest.mark.parametrize("name", TRAINABLE)
def test_keras_file_reloads_to_identical_predictions(name, tmp_path):
    case = REGISTRY[name]
    assert_saves_and_loads(_model(case, case.make()), _model_inputs(case.inputs()), tmp_path)


@pytest.mark.parametrize("name", TRAINABLE)
def test_fit_step_moves_every_trainable_weight(name):
    case = REGISTRY[name]
    model = _model(case, case.make())
    x = _model_inputs(case.inputs())
    y = np.ones((BATCH, *model.output.shape[1:]), "float32")
    assert_fit_step_changes_weights(model, x, y, jit_compile=jit_compile_supported())


@pytest.mark.parametrize("name", TRAINABLE)
def test_mixed_bfloat16_keeps_float32_weights_and_tracks_float32(name):
    case = REGISTRY[name]
    inputs = case.inputs()
    reference = case.make()
    expected = _outputs(case, reference, inputs)
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = case.make()
    case.call(layer, *inputs)
    layer.set_weights(reference.get_weights())
    actual = _outputs(case, layer, inputs)
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights if w.dtype != "int32")
    # bfloat16 keeps 8 significant bits; a few roundings stay within 2**-5 of the output's scale.
    np.testing.assert_allclose(actual, expected, rtol=0, atol=2.0**-5 * np.abs(expected).max() + 1e-6)


@pytest.mark.parametrize("name", SINGLE_INPUT)
def test_sequential_without_input_predicts_the_eager_outputs(name):
    case = REGISTRY[name]
    (x,) = case.inputs()
    model = keras.Sequential([case.make()])
    # Without an Input the model builds on float32, so ids arrive as floats and must be cast.
    predicted = model.predict(x.astype("float32") if case.takes_ids else x, verbose=0)
    np.testing.assert_allclose(predicted, _outputs(case, model.layers[0], (x,)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", TRAINABLE)
def test_compiled_call_matches_the_eager_call(name):
    case = REGISTRY[name]
    layer = case.make()
    inputs = case.inputs()
    expected = _outputs(case, layer, inputs)
    actual = to_numpy(keras.ops.cast(compiled(lambda *xs: case.call(layer, *xs))(*inputs), "float32"))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", QUANTIZABLE)
def test_int8_quantization_stores_int8_and_tracks_float_outputs(name):
    case = REGISTRY[name]
    layer = case.make()
    inputs = case.inputs()
    expected = _outputs(case, layer, inputs)
    layer.quantize("int8")
    assert any(keras.backend.standardize_dtype(w.dtype) == "int8" for w in layer.weights)
    # Per-row absmax int8 rounds each value by at most scale / 254; a projection adds one more rounding.
    np.testing.assert_allclose(_outputs(case, layer, inputs), expected, rtol=0, atol=2.0**-5 * np.abs(expected).max())
