"""The one id rule of every gather: `lookup_rows`, `gather_or_zeros`, `in_range`, `take_or_zeros`."""

import keras
import numpy as np
import pytest
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.ops import lookup

TABLE = np.arange(12, dtype="float32").reshape(4, 3)  # row i holds 3i, 3i + 1, 3i + 2


def doubled_rows(ids):
    """A table given as a function of in-range ids (as a quantised table's dequantisation is)."""
    return keras.ops.take(keras.ops.convert_to_tensor(2 * TABLE), ids, axis=0)


def test_in_range_marks_ids_from_zero_below_rows():
    ids = np.array([-1, 0, 3, 4], "int32")
    np.testing.assert_array_equal(to_numpy(lookup.in_range(ids, 4)), [False, True, True, False])


def test_table_rows_names_the_argument_that_sizes_the_table():
    assert lookup.table_rows("input_dim", 20) == "the table (input_dim=20)"


@pytest.mark.parametrize("table", [TABLE, doubled_rows], ids=["tensor", "function"])
def test_concrete_id_out_of_range_raises_naming_it_and_the_range(table):
    with pytest.raises(ValueError, match=r"`inputs` holds 4 at index \(1,\), outside the valid range \[0, 4\) of the table \(input_dim=4\)\."):
        lookup.lookup_rows(table, np.array([0, 4]), "inputs", lookup.table_rows("input_dim", 4), rows=4)


@pytest.mark.parametrize("table, scale", [(TABLE, 1.0), (doubled_rows, 2.0)], ids=["tensor", "function"])
def test_traced_ids_out_of_range_gather_zero_rows(table, scale):
    ids = keras.ops.convert_to_tensor(np.array([2, -1, 4, 0], "int32"))  # a numpy array stays concrete
    outputs = to_numpy(compiled(lambda x: lookup.lookup_rows(table, x, rows=4))(ids))
    expected = scale * np.stack([TABLE[2], np.zeros(3), np.zeros(3), TABLE[0]])
    np.testing.assert_array_equal(outputs, expected)


def test_function_table_sees_only_in_range_ids_when_traced():
    seen = []

    def recording_rows(ids):
        seen.append(ids)
        return keras.ops.take(keras.ops.convert_to_tensor(TABLE), ids, axis=0)

    # Eagerly, gather_or_zeros hands the function concrete ids: out-of-range ones are already 0.
    lookup.gather_or_zeros(recording_rows, keras.ops.convert_to_tensor(np.array([5, -2, 1], "int32")), 4)
    np.testing.assert_array_equal(to_numpy(seen[0]), [0, 0, 1])


def test_negative_ids_are_padding_only_when_asked():
    ids = np.array([1, -1], "int32")
    padded = to_numpy(lookup.lookup_rows(TABLE, ids, rows=4, negatives_are_padding=True))
    np.testing.assert_array_equal(padded, np.stack([TABLE[1], np.zeros(3)]))
    with pytest.raises(ValueError, match="holds -1"):
        lookup.lookup_rows(TABLE, ids, rows=4)


def test_negative_ids_as_padding_still_refuse_ids_past_the_table():
    with pytest.raises(ValueError, match=r"holds 4 .*\[0, 4\) of a table of 4 rows \(negative ids are padding\)"):
        lookup.lookup_rows(TABLE, np.array([-1, 4]), rows=4, negatives_are_padding=True)


def test_padded_table_zeroes_ids_into_its_padding_rows():
    stored = np.concatenate([TABLE, np.full((2, 3), 7.0, "float32")])  # 4 rows stored as 6
    ids = keras.ops.convert_to_tensor(np.array([3, 4, 5], "int32"))
    outputs = to_numpy(compiled(lambda x: lookup.lookup_rows(stored, x, rows=4))(ids))
    np.testing.assert_array_equal(outputs, np.stack([TABLE[3], np.zeros(3), np.zeros(3)]))


def test_take_or_zeros_fast_path_matches_the_portable_path():
    # JAX gathers with mode="fill"; every backend must give what mask, gather and select give.
    ids = keras.ops.convert_to_tensor(np.array([[3, -1], [4, 0]], "int32"))
    table = keras.ops.convert_to_tensor(TABLE)
    portable = lookup.gather_or_zeros(lambda safe: keras.ops.take(table, safe, axis=0), ids, 4)
    np.testing.assert_array_equal(to_numpy(lookup.take_or_zeros(table, ids)), to_numpy(portable))


def test_take_or_zeros_per_batch_row():
    sequences = keras.ops.convert_to_tensor(np.stack([TABLE, 10 + TABLE]))  # (2, 4, 3)
    ids = keras.ops.convert_to_tensor(np.array([[1, 4], [-1, 2]], "int32"))
    expected = np.stack([np.stack([TABLE[1], np.zeros(3)]), np.stack([np.zeros(3), 10 + TABLE[2]])])
    np.testing.assert_array_equal(to_numpy(lookup.take_or_zeros(sequences, ids, batch_dims=1)), expected)
