"""ReversibleEmbedding's table arguments, shared with keras_embed.layers.Embedding."""

import inspect
import math

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_saves_and_loads
from embed_testing import to_numpy
from table_oracles import keras_sgd_step
from table_oracles import torch_forward
from table_oracles import torch_module
from table_oracles import torch_sgd_step

from keras_embed.layers import Embedding
from keras_embed.layers import ReversibleEmbedding

VOCABULARY, WIDTH = 11, 6


def with_table(table, **kwargs):
    layer = ReversibleEmbedding(VOCABULARY, WIDTH, **kwargs)
    layer.build()
    layer.embeddings.assign(table)
    return layer


@pytest.fixture
def table(rng):
    return rng.normal(size=(VOCABULARY, WIDTH)).astype("float32")


def test_keras_hub_arguments_keep_their_order_and_new_ones_default_off():
    parameters = list(inspect.signature(ReversibleEmbedding.__init__).parameters)
    assert parameters[1:10] == [
        "input_dim", "output_dim", "tie_weights", "embeddings_initializer", "embeddings_regularizer",
        "embeddings_constraint", "mask_zero", "reverse_dtype", "logit_soft_cap",
    ]
    config = ReversibleEmbedding(VOCABULARY, WIDTH).get_config()
    assert (config["padding_idx"], config["max_norm"], config["norm_type"]) == (None, None, 2.0)
    assert (config["scale_grad_by_freq"], config["embeddings_scale"]) == (False, None)


def test_shares_the_table_layer():
    assert issubclass(ReversibleEmbedding, Embedding)


def test_padding_row_is_zero_embeds_to_zeros_and_its_tied_logit_is_zero(rng):
    layer = ReversibleEmbedding(VOCABULARY, WIDTH, padding_idx=-1)
    layer.build()
    np.testing.assert_array_equal(to_numpy(layer.embeddings)[VOCABULARY - 1], 0.0)
    np.testing.assert_array_equal(to_numpy(layer(np.array([[VOCABULARY - 1]]))), 0.0)
    logits = to_numpy(layer(rng.normal(size=(3, WIDTH)).astype("float32"), reverse=True))
    np.testing.assert_array_equal(logits[:, VOCABULARY - 1], 0.0)


def test_table_after_one_sgd_step_matches_torch_with_padding_and_frequency_scaling(table, rng):
    table[3] = 0.0
    ids = np.array([[3, 5, 3, 7], [1, 3, 5, 5]])
    targets = rng.normal(size=(2, 4, WIDTH)).astype("float32")
    options = dict(padding_idx=3, scale_grad_by_freq=True)
    expected = torch_sgd_step(torch_module("embedding", table, **options), ids, targets, 5.0)
    actual = keras_sgd_step(with_table(table, **options), ids, targets, 5.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_max_norm_output_and_renormalised_table_match_torch(table):
    ids = np.array([[1, 4, 4, 9]])
    oracle = torch_module("embedding", table, max_norm=0.7, norm_type=1.0)
    expected = torch_forward(oracle, ids)
    layer = with_table(table, max_norm=0.7, norm_type=1.0)
    np.testing.assert_allclose(to_numpy(layer(ids)), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(to_numpy(layer.embeddings), oracle.weight.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_embeddings_scale_scales_the_forward_output_only(table, rng):
    layer = with_table(table, embeddings_scale="sqrt")
    ids = np.array([[2, 8]])
    np.testing.assert_allclose(to_numpy(layer(ids)), table[ids] * np.float32(math.sqrt(WIDTH)), rtol=1e-6)
    hidden = rng.normal(size=(2, WIDTH)).astype("float32")
    expected = hidden.astype("float64") @ table.T.astype("float64")
    np.testing.assert_allclose(to_numpy(layer(hidden, reverse=True)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_layer_keeps_padding_zero_and_the_output_scale(mode, table):
    table[1] = 0.0
    layer = with_table(table, padding_idx=1, embeddings_scale=2.0)
    layer.quantize(mode)
    outputs = to_numpy(layer(np.array([[1, 3]])))
    np.testing.assert_array_equal(outputs[0, 0], 0.0)
    np.testing.assert_allclose(outputs[0, 1], 2.0 * table[3], atol=0.6 * np.abs(table[3]).max())


def test_config_round_trip_and_keras_file_with_table_arguments(tmp_path, rng):
    options = dict(padding_idx=0, max_norm=3.0, scale_grad_by_freq=True, embeddings_scale=2.0, tie_weights=False)
    assert_config_round_trip(ReversibleEmbedding(VOCABULARY, WIDTH, **options))
    embedding = ReversibleEmbedding(VOCABULARY, WIDTH, **options)
    ids = keras.Input((5,), dtype="int32")
    model = keras.Model(ids, embedding(embedding(ids), reverse=True))
    assert_saves_and_loads(model, rng.integers(0, VOCABULARY, size=(2, 5)), tmp_path, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(padding_idx=VOCABULARY), "`padding_idx` must be an integer"),
        (dict(max_norm=0.0), "`max_norm` must be a positive number"),
        (dict(embeddings_scale="cube"), "`embeddings_scale` must be None, 'sqrt' or a positive number"),
    ],
)
def test_bad_table_arguments_raise_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReversibleEmbedding(VOCABULARY, WIDTH, **kwargs)
