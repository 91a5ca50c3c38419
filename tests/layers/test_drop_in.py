"""The patterns of every Keras tutorial, with each public layer that takes ids, and their peers.

`keras.Sequential` without an `Input` builds on a float32 symbolic input, so
ids arrive as floats there and must be cast as `keras.layers.Embedding`
casts them; the functional API with `Input(dtype="int32")` and subclassed
models pass integers. Each pattern must fit, predict and survive a `.keras`
round trip. Where a layer replaces a peer (`keras.layers.Embedding`, torch's
`nn.Embedding` and `nn.EmbeddingBag`), it must give the peer's outputs on
the peer's table.
"""

import dataclasses
from typing import Callable

import keras
import numpy as np
import pytest
from embed_testing import assert_saves_and_loads
from embed_testing import to_numpy
from table_oracles import torch_forward
from table_oracles import torch_module

from keras_embed.layers import Embedding
from keras_embed.layers import EmbeddingBag
from keras_embed.layers import HashEmbedding
from keras_embed.layers import MaskedLMHead
from keras_embed.layers import MixedDimensionEmbedding
from keras_embed.layers import PositionEmbedding
from keras_embed.layers import QREmbedding
from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import SemiFrozenReversibleEmbedding
from keras_embed.layers import SubwordEmbedding
from keras_embed.layers import TokenAndPositionEmbedding

VOCABULARY, SEQUENCE, WIDTH, PIECES = 20, 6, 8, 3


def token_ids(rows=8):
    return np.random.default_rng(0).integers(0, VOCABULARY, size=(rows, SEQUENCE))


def subword_pieces(rows=8):
    """`(rows, words, pieces)` rows of a 20-row subword table, -1 for padding pieces."""
    return np.random.default_rng(0).integers(-1, VOCABULARY, size=(rows, SEQUENCE, PIECES))


@dataclasses.dataclass(frozen=True)
class DropInCase:
    """A small id-taking layer, its ids, and whether its outputs keep a sequence axis to pool."""

    make: Callable[[], keras.layers.Layer]
    ids: Callable[..., np.ndarray] = token_ids
    per_position: bool = True


# Every public layer that takes ids in place of a `keras.layers.Embedding` (CategoricalEmbeddings
# takes a dict of columns, MaskedLMMaskGenerator is preprocessing without weights).
ID_LAYERS = {
    "Embedding_masked_padded": DropInCase(
        lambda: Embedding(VOCABULARY, WIDTH, mask_zero=True, padding_idx=0, max_norm=1.0)
    ),
    "EmbeddingBag": DropInCase(lambda: EmbeddingBag(VOCABULARY, WIDTH, combiner="mean"), per_position=False),
    "HashEmbedding": DropInCase(lambda: HashEmbedding(16, WIDTH, seed=3)),
    "MixedDimensionEmbedding": DropInCase(lambda: MixedDimensionEmbedding([5, 15], WIDTH, dims=[WIDTH, 3])),
    "QREmbedding": DropInCase(lambda: QREmbedding(VOCABULARY, WIDTH, num_collisions=4, mask_zero=True)),
    "ReversibleEmbedding": DropInCase(lambda: ReversibleEmbedding(VOCABULARY, WIDTH)),
    "ReversibleEmbedding_untied_masked": DropInCase(
        lambda: ReversibleEmbedding(VOCABULARY, WIDTH, tie_weights=False, mask_zero=True)
    ),
    "SemiFrozenReversibleEmbedding": DropInCase(
        lambda: SemiFrozenReversibleEmbedding(VOCABULARY, WIDTH, num_trainable_rows=3)
    ),
    "SubwordEmbedding": DropInCase(lambda: SubwordEmbedding(5, 15, WIDTH, minn=2, maxn=3), ids=subword_pieces),
    "TokenAndPositionEmbedding": DropInCase(
        lambda: TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, WIDTH, mask_zero=True)
    ),
}
NAMES = sorted(ID_LAYERS)


def pooled(case, outputs):
    return keras.layers.GlobalAveragePooling1D()(outputs) if case.per_position else outputs


def head(case):
    """The layers after the embedding: a pooling over positions (when there are any) and a Dense."""
    return ([keras.layers.GlobalAveragePooling1D()] if case.per_position else []) + [keras.layers.Dense(1)]


def targets(rows=8):
    return np.random.default_rng(1).normal(size=(rows, 1)).astype("float32")


def fit_predict_save(model, ids, tmp_path):
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(ids, targets(len(ids)), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert_saves_and_loads(model, ids, tmp_path, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_sequential_without_input_fits_predicts_and_saves(name, tmp_path):
    case = ID_LAYERS[name]
    model = keras.Sequential([case.make()] + head(case))
    fit_predict_save(model, case.ids(), tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_functional_with_integer_input_fits_predicts_and_saves(name, tmp_path):
    case = ID_LAYERS[name]
    ids = case.ids()
    inputs = keras.Input(shape=ids.shape[1:], dtype="int32")
    hidden = pooled(case, case.make()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    fit_predict_save(model, ids, tmp_path)


@keras.saving.register_keras_serializable(package="keras_embed_tests")
class PooledRegressor(keras.Model):
    def __init__(self, embedding, per_position=True, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.per_position = per_position
        self.pool = keras.layers.GlobalAveragePooling1D() if per_position else None
        self.dense = keras.layers.Dense(1)

    def call(self, ids):
        embedded = self.embedding(ids)
        return self.dense(self.pool(embedded) if self.pool is not None else embedded)

    def get_config(self):
        config = super().get_config()
        config["embedding"] = keras.saving.serialize_keras_object(self.embedding)
        config["per_position"] = self.per_position
        return config

    @classmethod
    def from_config(cls, config):
        config["embedding"] = keras.saving.deserialize_keras_object(config["embedding"])
        return cls(**config)


@pytest.mark.parametrize("name", NAMES)
def test_subclassed_model_fits_predicts_and_saves(name, tmp_path):
    case = ID_LAYERS[name]
    fit_predict_save(PooledRegressor(case.make(), case.per_position), case.ids(), tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_sequential_float_ids_give_the_integer_ids_outputs(name):
    case = ID_LAYERS[name]
    model = keras.Sequential([case.make()])
    ids = case.ids(2)
    np.testing.assert_array_equal(
        to_numpy(model(ids.astype("float32"))), to_numpy(model(ids.astype("int32")))
    )


# Layers that replace keras' Embedding: with its table, a model predicts what keras' model predicts.
KERAS_PEERS = {
    "Embedding": lambda: Embedding(VOCABULARY, WIDTH, mask_zero=True),
    "ReversibleEmbedding": lambda: ReversibleEmbedding(VOCABULARY, WIDTH, mask_zero=True),
    "SemiFrozenReversibleEmbedding": lambda: SemiFrozenReversibleEmbedding(
        VOCABULARY, WIDTH, num_trainable_rows=2, mask_zero=True
    ),
}


@pytest.mark.parametrize("name", sorted(KERAS_PEERS))
def test_replacing_keras_embedding_keeps_the_model_predictions(name):
    peer = keras.layers.Embedding(VOCABULARY, WIDTH, mask_zero=True)
    peer_model = keras.Sequential([keras.Input((SEQUENCE,), dtype="int32"), peer, keras.layers.GlobalAveragePooling1D()])
    layer = KERAS_PEERS[name]()
    model = keras.Sequential([keras.Input((SEQUENCE,), dtype="int32"), layer, keras.layers.GlobalAveragePooling1D()])
    table = to_numpy(peer.embeddings)
    if isinstance(layer, SemiFrozenReversibleEmbedding):
        layer.assign_table(table, [4, 9])
    else:
        layer.embeddings.assign(table)
    ids = token_ids(4)
    ids[:, -2:] = 0  # padding the mask must drop from the average
    np.testing.assert_allclose(model.predict(ids, verbose=0), peer_model.predict(ids, verbose=0), rtol=1e-6)


# Layers that replace torch's modules, fed torch's forms: padded ids, and flat ids with offsets.
@pytest.mark.parametrize("with_offsets", [False, True], ids=["padded", "offsets"])
def test_embedding_bag_replaces_torch_embedding_bag(with_offsets):
    layer = EmbeddingBag(VOCABULARY, WIDTH, combiner="mean", padding_idx=0)
    layer.build()
    weights = to_numpy(layer.embeddings)
    module = torch_module("bag", weights, mode="mean", padding_idx=0)
    ids = token_ids(3)
    if with_offsets:
        flat, offsets = ids.reshape(-1), np.array([0, 4, 11])
        np.testing.assert_allclose(
            to_numpy(layer(flat, offsets=offsets)), torch_forward(module, flat, offsets=offsets), rtol=1e-5, atol=1e-6
        )
    else:
        np.testing.assert_allclose(to_numpy(layer(ids)), torch_forward(module, ids), rtol=1e-5, atol=1e-6)


def test_embedding_replaces_torch_embedding_with_its_rules():
    layer = Embedding(VOCABULARY, WIDTH, padding_idx=1, max_norm=0.05)
    layer.build()
    weights = to_numpy(layer.embeddings)
    module = torch_module("embedding", weights, padding_idx=1, max_norm=0.05)
    ids = token_ids(2)
    ids[0, 0] = 1
    np.testing.assert_allclose(to_numpy(layer(ids)), torch_forward(module, ids), rtol=1e-5, atol=1e-6)


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
