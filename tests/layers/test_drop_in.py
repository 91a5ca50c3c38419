"""The patterns of every Keras tutorial, with each public layer that takes ids.

`keras.Sequential` without an `Input` builds on a float32 symbolic input, so
ids arrive as floats there and must be cast as `keras.layers.Embedding`
casts them; the functional API with `Input(dtype="int32")` and subclassed
models pass integers. Each pattern must fit, predict and survive a `.keras`
round trip.
"""

import keras
import numpy as np
import pytest
from embed_testing import assert_saves_and_loads
from embed_testing import to_numpy

from keras_embed.layers import MaskedLMHead
from keras_embed.layers import PositionEmbedding
from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import SemiFrozenReversibleEmbedding
from keras_embed.layers import TokenAndPositionEmbedding

VOCABULARY, SEQUENCE, WIDTH = 20, 6, 8

ID_LAYERS = {
    "ReversibleEmbedding": lambda: ReversibleEmbedding(VOCABULARY, WIDTH),
    "ReversibleEmbedding_untied_masked": lambda: ReversibleEmbedding(
        VOCABULARY, WIDTH, tie_weights=False, mask_zero=True
    ),
    "TokenAndPositionEmbedding": lambda: TokenAndPositionEmbedding(
        VOCABULARY, SEQUENCE, WIDTH, mask_zero=True
    ),
    "SemiFrozenReversibleEmbedding": lambda: SemiFrozenReversibleEmbedding(
        VOCABULARY, WIDTH, num_trainable_rows=3
    ),
}


def token_ids(rows=8):
    return np.random.default_rng(0).integers(0, VOCABULARY, size=(rows, SEQUENCE))


def targets(rows=8):
    return np.random.default_rng(1).normal(size=(rows, 1)).astype("float32")


def fit_predict_save(model, ids, tmp_path):
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(ids, targets(len(ids)), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert_saves_and_loads(model, ids, tmp_path, atol=1e-6)


@pytest.mark.parametrize("make_layer", ID_LAYERS.values(), ids=ID_LAYERS.keys())
def test_sequential_without_input_fits_predicts_and_saves(make_layer, tmp_path):
    model = keras.Sequential(
        [make_layer(), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    )
    fit_predict_save(model, token_ids(), tmp_path)


@pytest.mark.parametrize("make_layer", ID_LAYERS.values(), ids=ID_LAYERS.keys())
def test_functional_with_integer_input_fits_predicts_and_saves(make_layer, tmp_path):
    inputs = keras.Input(shape=(SEQUENCE,), dtype="int32")
    hidden = keras.layers.GlobalAveragePooling1D()(make_layer()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    fit_predict_save(model, token_ids(), tmp_path)


@keras.saving.register_keras_serializable(package="keras_embed_tests")
class PooledRegressor(keras.Model):
    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.pool = keras.layers.GlobalAveragePooling1D()
        self.dense = keras.layers.Dense(1)

    def call(self, ids):
        return self.dense(self.pool(self.embedding(ids)))

    def get_config(self):
        config = super().get_config()
        config["embedding"] = keras.saving.serialize_keras_object(self.embedding)
        return config

    @classmethod
    def from_config(cls, config):
        config["embedding"] = keras.saving.deserialize_keras_object(config["embedding"])
        return cls(**config)


@pytest.mark.parametrize("make_layer", ID_LAYERS.values(), ids=ID_LAYERS.keys())
def test_subclassed_model_fits_predicts_and_saves(make_layer, tmp_path):
    fit_predict_save(PooledRegressor(make_layer()), token_ids(), tmp_path)


@pytest.mark.parametrize("make_layer", ID_LAYERS.values(), ids=ID_LAYERS.keys())
def test_sequential_float_ids_give_the_integer_ids_outputs(make_layer):
    model = keras.Sequential([make_layer()])
    ids = token_ids(2)
    np.testing.assert_array_equal(
        to_numpy(model(ids.astype("float32"))), to_numpy(model(ids.astype("int32")))
    )


def test_sequential_mask_zero_reaches_the_next_layer_with_float_ids():
    # Padding (id 0) must not count in the average: [emb(3), 0-padding] averages to emb(3).
    embedding = ReversibleEmbedding(VOCABULARY, WIDTH, mask_zero=True)
    model = keras.Sequential([embedding, keras.layers.GlobalAveragePooling1D()])
    pooled = to_numpy(model(np.array([[3.0, 0.0]], "float32")))
    np.testing.assert_allclose(pooled[0], to_numpy(embedding.embeddings)[3], rtol=1e-6)


def test_functional_float_positions_input_is_cast():
    hidden = keras.Input(shape=(SEQUENCE, WIDTH))
    positions = keras.Input(shape=(SEQUENCE,))  # float32, as keras.Input defaults
    layer = PositionEmbedding(sequence_length=SEQUENCE)
    model = keras.Model([hidden, positions], layer(hidden, positions=positions))
    order = np.arange(SEQUENCE)[::-1][None]
    outputs = to_numpy(model.predict([np.zeros((1, SEQUENCE, WIDTH)), order.astype("float32")], verbose=0))
    np.testing.assert_allclose(outputs[0], to_numpy(layer.position_embeddings)[order[0]], rtol=1e-6)


def test_functional_float_mask_positions_input_is_cast():
    hidden = keras.Input(shape=(SEQUENCE, WIDTH))
    mask_positions = keras.Input(shape=(2,))  # float32
    head = MaskedLMHead(vocabulary_size=VOCABULARY)
    model = keras.Model([hidden, mask_positions], head(hidden, mask_positions))
    values = np.random.default_rng(2).normal(size=(1, SEQUENCE, WIDTH)).astype("float32")
    from_floats = model.predict([values, np.array([[1.0, 4.0]], "float32")], verbose=0)
    from_ints = to_numpy(head(values, np.array([[1, 4]], "int32")))
    np.testing.assert_allclose(from_floats, from_ints, rtol=1e-5, atol=1e-6)


def test_half_precision_ids_are_refused_with_the_fix():
    # Under mixed_bfloat16 a Sequential without Input rounds ids (257 -> 256) before any layer.
    with pytest.raises(ValueError, match=r"arrived as bfloat16.*dtype='int32'"):
        ReversibleEmbedding(300, 4)(keras.ops.cast(np.array([[257]]), "bfloat16"))
