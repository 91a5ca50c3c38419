"""Bad inputs get the right answer or an error naming the argument, on every backend.

Each test is one input a new user might pass. Errors must name the argument and
say what arrived; right answers are checked against numpy.
"""

import re

import keras
import numpy as np
import pytest

from keras_embed.layers import AxialRotaryEmbedding
from keras_embed.layers import Embedding
from keras_embed.layers import EmbeddingBag
from keras_embed.layers import MultimodalRotaryEmbedding
from keras_embed.layers import HashEmbedding
from keras_embed._validation import check_callable
from keras_embed._validation import check_choice
from keras_embed._validation import check_integer
from keras_embed._validation import check_integer_list
from keras_embed._validation import check_string_list
from keras_embed.layers import PositionEmbedding
from keras_embed.layers import QREmbedding
from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import RotaryEmbedding
from keras_embed.layers import SemiFrozenReversibleEmbedding
from keras_embed.layers import SinePositionEncoding
from keras_embed.layers import TokenAndPositionEmbedding
from keras_embed.ops import reverse_cross_entropy
from keras_embed.preprocessing import SubwordTokenizer

# 2**32 + 3 truncates to 3 in an int32 tensor (JAX without x64); elsewhere it is out of range.
HUGE_ID = np.array([[2**32 + 3]], "int64")
ID_LAYERS = {
    "Embedding": lambda: Embedding(10, 4),
    "EmbeddingBag": lambda: EmbeddingBag(10, 4),
    "ReversibleEmbedding": lambda: ReversibleEmbedding(10, 4),
    "SemiFrozenReversibleEmbedding": lambda: SemiFrozenReversibleEmbedding(10, 4, 5),
    "TokenAndPositionEmbedding": lambda: TokenAndPositionEmbedding(10, 8, 4),
}


def table_of(layer):
    return keras.ops.convert_to_numpy(layer.embeddings)


@pytest.mark.parametrize("name", sorted(ID_LAYERS))
def test_int64_id_beyond_int32_raises_instead_of_wrapping(name):
    # JAX: "does not fit the int32 tensors"; torch / TF: outside the table. Never row 3.
    with pytest.raises(ValueError, match=r"`inputs` holds 4294967299 at index \(0, 0\)"):
        ID_LAYERS[name]()(HUGE_ID)


@pytest.mark.parametrize("name", sorted(ID_LAYERS))
def test_numeric_string_ids_raise_instead_of_parsing(name):
    with pytest.raises(ValueError, match="`inputs` must hold integer ids, but has dtype <U1: strings are never parsed"):
        ID_LAYERS[name]()(np.array([["3"]]))


def test_none_ids_raise_naming_inputs():
    with pytest.raises(ValueError, match="`inputs` must be a tensor or array of integer ids. Received: inputs=None"):
        Embedding(10, 4)(None)


def test_python_list_ids_look_up_their_rows():
    layer = Embedding(10, 4)
    outputs = keras.ops.convert_to_numpy(layer([[1, 2]]))
    np.testing.assert_allclose(outputs, table_of(layer)[[[1, 2]]])


def test_uint8_ids_look_up_their_rows():
    # keras' own Embedding accepts uint8 ids (image pipelines); TF gathers need int32.
    layer = Embedding(10, 4)
    outputs = keras.ops.convert_to_numpy(layer(np.array([[1, 9]], "uint8")))
    np.testing.assert_allclose(outputs, table_of(layer)[[[1, 9]]])


@pytest.mark.parametrize("bad", [0.5, float("nan")], ids=["fractional", "nan"])
def test_non_integral_float_offsets_raise(bad):
    with pytest.raises(ValueError, match="`offsets` must hold integer ids; float ids are cast only"):
        EmbeddingBag(10, 4)(np.array([1, 2, 3, 4]), offsets=np.array([0.0, 2.0 + bad]))


def test_numeric_string_offsets_raise():
    with pytest.raises(ValueError, match="`offsets` must hold integer ids, but has dtype"):
        EmbeddingBag(10, 4)(np.array([1, 2, 3, 4]), offsets=np.array(["0", "2"]))


def test_empty_offsets_give_no_bags_like_torch():
    outputs = EmbeddingBag(10, 4)(np.array([1, 2, 3, 4]), offsets=np.zeros((0,), "int32"))
    assert tuple(outputs.shape) == (0, 4)


def test_numeric_string_bag_weights_raise():
    layer = EmbeddingBag(10, 4, combiner="sum")
    with pytest.raises(ValueError, match="`per_sample_weights` must hold numbers, but has dtype <U1: strings"):
        layer(np.array([[1, 2]]), per_sample_weights=np.array([["1", "2"]]))


@pytest.mark.parametrize("start_index", [1.5, "1"], ids=["fractional", "string"])
def test_non_integer_start_index_raises(start_index):
    with pytest.raises(ValueError, match="`start_index` must be an integer.*Received: start_index="):
        PositionEmbedding(8)(np.zeros((1, 3, 4)), start_index=start_index)


def test_float16_ids_are_refused_by_token_and_position_embedding():
    with pytest.raises(ValueError, match="`inputs` arrived as float16"):
        TokenAndPositionEmbedding(10, 8, 4)(np.array([[1, 2]], "float16"))


def test_string_mask_zero_raises():
    with pytest.raises(ValueError, match="`mask_zero` must be True or False. Received: mask_zero='False'"):
        Embedding(10, 4, mask_zero="False")


def test_string_reverse_raises():
    layer = ReversibleEmbedding(10, 4)
    layer.build((None,))
    with pytest.raises(ValueError, match="`reverse` must be True or False. Received: reverse='False'"):
        layer(np.zeros((1, 4), "float32"), reverse="False")


def test_unknown_reverse_dtype_raises():
    with pytest.raises(ValueError, match="`reverse_dtype` must be a floating dtype.*reverse_dtype='float99'"):
        ReversibleEmbedding(10, 4, reverse_dtype="float99")


def test_reverse_call_with_wrong_feature_size_raises():
    layer = ReversibleEmbedding(10, 4)
    layer.build((None,))
    with pytest.raises(ValueError, match=r"hidden states of shape \(\.\.\., 4\).*shape \(1, 5\)"):
        layer(np.zeros((1, 5), "float32"), reverse=True)


def test_grid_and_coordinates_together_raise():
    coordinates = np.zeros((4, 2), "float32")
    with pytest.raises(ValueError, match="Pass `grid` or `coordinates`, not both"):
        AxialRotaryEmbedding()(np.zeros((1, 4, 8), "float32"), grid=(2, 2), coordinates=coordinates)


def test_one_dimensional_input_to_sine_encoding_raises():
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(\.\.\., sequence, hidden\).*\(4,\)"):
        SinePositionEncoding()(np.zeros((4,), "float32"))


def test_wrong_shape_positions_raise():
    with pytest.raises(ValueError, match=r"`positions` must give one position per token: its last axis has 2 entries but inputs have 3"):
        SinePositionEncoding()(np.zeros((1, 3, 4), "float32"), positions=np.zeros((2, 2)))


@pytest.mark.parametrize("layer", [SinePositionEncoding, RotaryEmbedding])
def test_numeric_string_positions_raise(layer):
    with pytest.raises(ValueError, match="`positions` must hold positions, but has dtype <U1: strings"):
        layer()(np.zeros((1, 3, 4), "float32"), positions=np.array(["1", "2", "3"]))


def test_empty_batch_to_hash_embedding_gives_empty_embeddings():
    outputs = HashEmbedding(10, 4)(np.zeros((0, 3), "int32"))
    assert tuple(outputs.shape) == (0, 3, 4)


def test_string_labels_to_reverse_cross_entropy_raise():
    hidden, table = np.zeros((2, 4), "float32"), np.zeros((10, 4), "float32")
    with pytest.raises(ValueError, match="`labels` must hold integer ids, but has dtype"):
        reverse_cross_entropy(hidden, table, np.array(["1", "2"]))


def test_nan_multimodal_positions_raise():
    positions = np.full((3, 1, 4), np.nan, "float32")
    with pytest.raises(ValueError, match=r"`positions` must hold finite numbers. Received: nan"):
        MultimodalRotaryEmbedding([2, 1, 1])(np.zeros((1, 4, 8), "float32"), positions=positions)


def test_duplicate_words_in_subword_vocabulary_raise():
    with pytest.raises(ValueError, match="`vocabulary` must not repeat.*'cat' at positions 0 and 2"):
        SubwordTokenizer(["cat", "dog", "cat"])


QUANTIZED_TABLES = {
    "Embedding-int8": (lambda: Embedding(10, 4), "int8"),
    "Embedding-int4": (lambda: Embedding(10, 4), "int4"),
    "ReversibleEmbedding-int8": (lambda: ReversibleEmbedding(10, 4), "int8"),
    "ReversibleEmbedding-int4": (lambda: ReversibleEmbedding(10, 4, tie_weights=False), "int4"),
    "QREmbedding-int8": (lambda: QREmbedding(10, 4, num_collisions=3), "int8"),
}


@pytest.mark.parametrize("name", sorted(QUANTIZED_TABLES))
def test_out_of_range_id_error_reads_the_same_before_and_after_quantize(name):
    make_layer, mode = QUANTIZED_TABLES[name]
    layer = make_layer()
    with pytest.raises(ValueError) as before:
        layer(np.array([[3, 12]]))
    layer.quantize(mode)
    with pytest.raises(ValueError) as after:
        layer(np.array([[3, 12]]))
    # Keras wraps the message in a note on the call's arguments, which differ after quantize.
    message = re.compile(r"`inputs` holds [^\n\x1b]*")
    assert message.search(str(after.value)).group(0) == message.search(str(before.value)).group(0)
    assert message.search(str(before.value)).group(0) == (
        "`inputs` holds 12 at index (0, 1), outside the valid range [0, 10) of the table (input_dim=10)."
    )


def test_check_integer_list_names_the_bad_entry():
    with pytest.raises(ValueError, match=r"`input_dims\[1\]` must be a positive integer. Received: input_dims\[1\]=0 \(of type int\)\."):
        check_integer_list("input_dims", [3, 0])
    with pytest.raises(ValueError, match=r"`input_dims` must be a non-empty list of positive integers. Received: input_dims='3' \(of type str\)\."):
        check_integer_list("input_dims", "3")


def test_check_integer_list_refuses_entries_out_of_order_when_increasing():
    with pytest.raises(ValueError, match=r"`dims` must be increasing positive integers. Received: dims=\(4, 4\) \(of type tuple\)\."):
        check_integer_list("dims", (4, 4), increasing=True)
    assert check_integer_list("dims", (2, 4), increasing=True) == [2, 4]


def test_check_integer_bounds_word_the_expected_range():
    with pytest.raises(ValueError, match=r"`seed` must be an integer in \[0, 7\]. Received: seed=8 \(of type int\)\."):
        check_integer("seed", 8, minimum=0, maximum=7)
    with pytest.raises(ValueError, match=r"`num_words` must be a non-negative integer. Received: num_words=True \(of type bool\)\."):
        check_integer("num_words", True, minimum=0)


def test_check_choice_accepts_none_only_where_listed():
    assert check_choice("quantization", None, (None, "int8")) is None
    with pytest.raises(ValueError, match=r"`metric` must be one of \['cosine'\]. Received: metric=None \(of type NoneType\)\."):
        check_choice("metric", None, ("cosine",))


def test_check_callable_names_what_arrived():
    with pytest.raises(ValueError, match=r"`loss` must be callable. Received: loss='mse' \(of type str\)\."):
        check_callable("loss", "mse")


def test_check_string_list_names_the_first_entry_that_is_no_string():
    with pytest.raises(ValueError, match=r"`words\[1\]` must be a string. Received: words\[1\]=3 \(of type int\)\."):
        check_string_list("words", ["cat", 3])
    with pytest.raises(ValueError, match=r"`columns` must be a list of names with at least 1 entry. Received: columns=\[\]"):
        check_string_list("columns", [], minimum=1, expected="a list of names")
