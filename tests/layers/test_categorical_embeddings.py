import collections
import os

import keras
import numpy as np
import pytest

from keras_embed.layers import CategoricalEmbeddings
from keras_embed.layers.categorical_embeddings import embedding_size
from keras_embed.ops.hashing import hash_buckets
from keras_embed.preprocessing.hash_strings import hash_strings
from keras_embed.preprocessing.hash_strings import split_ids


def table(rows=200, seed=0):
    rng = np.random.default_rng(seed)
    cities = np.array(["paris", "oslo", "rome", "lima", "kyiv", "baku", "doha"])
    return {
        "city": rng.choice(cities, rows, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05]),
        "store": rng.integers(0, 12, rows),
        "price": rng.normal(10.0, 3.0, rows),
    }


def adapted(**kwargs):
    kwargs.setdefault("embedding_dims", {"city": 3, "store": 2})
    layer = CategoricalEmbeddings(["city", "store"], numeric_columns=["price"], **kwargs)
    layer.adapt(table())
    return layer


def counter_vocabulary(values, min_frequency=1, max_tokens=None):
    """Reference: most frequent first, ties by ascending value, via collections.Counter."""
    counts = collections.Counter(values.tolist())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = [value for value, count in ranked if count >= min_frequency]
    return kept[:max_tokens] if max_tokens else kept


@pytest.mark.parametrize(
    "rule, rows, expected",
    [
        ("fastai", 10, 6),  # round(1.6 * 10**0.56) = round(5.81)
        ("fastai", 1000, 77),  # round(1.6 * 47.86) = round(76.6)
        ("fastai", 10**7, 600),  # capped
        ("fourth_root", 10_000, 10),
        ("fourth_root", 2, 1),  # round(1.19)
        ("sqrt", 50, 7),  # round(7.07)
    ],
)
def test_embedding_size_rules_match_hand_computed_values(rule, rows, expected):
    assert embedding_size(rows, rule) == expected


def test_rule_sizes_count_the_oov_buckets_as_rows():
    layer = adapted(embedding_dims="fastai", num_oov_buckets=3)
    assert layer.output_dims == {"city": embedding_size(7 + 3), "store": embedding_size(12 + 3)}


@pytest.mark.parametrize("min_frequency, max_tokens", [(1, None), (15, None), (1, 4)])
def test_vocabulary_matches_counter_with_ties_by_ascending_value(min_frequency, max_tokens):
    data = table(rows=300, seed=3)
    layer = CategoricalEmbeddings(["city", "store"], min_frequency=min_frequency, max_tokens=max_tokens)
    layer.adapt(data)
    for column in ("city", "store"):
        assert layer.vocabularies[column] == counter_vocabulary(data[column], min_frequency, max_tokens)


def test_vocabulary_tie_goes_to_the_smaller_value_whatever_the_row_order():
    layer = CategoricalEmbeddings(["c"])
    layer.adapt({"c": np.array(["b", "a", "c", "a", "b"])})
    assert layer.vocabularies["c"] == ["a", "b", "c"]


def test_oov_values_go_to_the_shared_hash_bucket():
    layer = adapted(num_oov_buckets=5, seed=7)
    unseen_cities = np.array(["berlin", "tokyo", "accra", "quito"])
    unseen_stores = np.array([100, -3, 2**40, 77])
    ids = layer.preprocess({"city": unseen_cities, "store": unseen_stores, "price": np.zeros(4)})
    city_hash = keras.ops.convert_to_numpy(
        hash_buckets(split_ids(hash_strings(unseen_cities, seed=7)), 5, 1, 7, id_pairs=True)
    )[:, 0]
    store_hash = keras.ops.convert_to_numpy(hash_buckets(split_ids(unseen_stores), 5, 1, 7, id_pairs=True))[:, 0]
    np.testing.assert_array_equal(ids["city"], 7 + city_hash)
    np.testing.assert_array_equal(ids["store"], 12 + store_hash)


def test_oov_buckets_are_the_same_on_a_second_call():
    layer = adapted(num_oov_buckets=5)
    data = {"city": np.array(["berlin", "tokyo"]), "store": np.array([100, 101]), "price": np.zeros(2)}
    first, second = layer.preprocess(data), layer.preprocess(data)
    np.testing.assert_array_equal(first["city"], second["city"])


def test_output_is_the_concatenation_of_numpy_gathered_rows_and_normalized_numerics(dtype_policy):
    layer = adapted(normalize_numeric=True)
    data = table(rows=20, seed=5)
    output = keras.ops.convert_to_numpy(keras.ops.cast(layer(layer.preprocess(data)), "float32"))
    tables = layer.export_tables()
    ids = layer.preprocess(data)
    price = data["price"]
    reference_price = (price - table()["price"].mean()) / table()["price"].std()
    tolerance = 1e-5 if dtype_policy == "float32" else 2e-2
    expected = np.concatenate(
        [tables["city"][1][ids["city"]], tables["store"][1][ids["store"]], reference_price[:, None]], axis=1
    )
    np.testing.assert_allclose(output, expected, rtol=tolerance, atol=tolerance)
    assert output.shape == (20, layer.compute_output_shape({"city": (20,), "store": (20,), "price": (20,)})[1])


def test_raw_strings_in_call_equal_preprocessed_ids():
    layer = adapted()
    data = table(rows=10, seed=2)
    ids = layer.preprocess(data)
    raw = {"city": data["city"], "store": ids["store"], "price": ids["price"]}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(raw)), keras.ops.convert_to_numpy(layer(ids)))


def test_feature_matrix_names_and_values():
    layer = adapted()
    data = table(rows=8, seed=4)
    matrix, names = layer.feature_matrix(data)
    assert names == ["city_0", "city_1", "city_2", "store_0", "store_1", "price"]
    tables, ids = layer.export_tables(), layer.preprocess(data)
    np.testing.assert_allclose(matrix[:, :3], tables["city"][1][ids["city"]])
    np.testing.assert_allclose(matrix[:, 5], data["price"].astype(np.float32))


def test_export_tables_returns_vocabulary_and_all_rows():
    layer = adapted(num_oov_buckets=2)
    vocabulary, rows = layer.export_tables()["city"]
    assert vocabulary == layer.vocabularies["city"]
    assert rows.shape == (len(vocabulary) + 2, 3)


def test_get_config_round_trip_keeps_vocabularies_and_statistics():
    layer = adapted(normalize_numeric=True, num_oov_buckets=3)
    restored = CategoricalEmbeddings.from_config(layer.get_config())
    assert restored.vocabularies == layer.vocabularies
    assert restored.numeric_mean == layer.numeric_mean
    assert restored.output_dims == layer.output_dims
    np.testing.assert_array_equal(restored.preprocess(table(9))["city"], layer.preprocess(table(9))["city"])


def functional_model(layer):
    inputs = {
        "city": keras.Input((), dtype="int32", name="city"),
        "store": keras.Input((), dtype="int32", name="store"),
        "price": keras.Input((), dtype="float32", name="price"),
    }
    return keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))


def test_fit_in_jit_then_keras_save_load_predicts_the_same(tmp_path, dtype_policy):
    layer = adapted(normalize_numeric=True)
    model = functional_model(layer)
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    data = table()
    ids = layer.preprocess(data)
    target = (data["city"] == "paris").astype("float32")
    before = layer.export_tables()["city"][1].copy()
    model.fit(ids, target, epochs=2, batch_size=50, verbose=0)
    assert not np.allclose(before, layer.export_tables()["city"][1])
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(ids, verbose=0), loaded.predict(ids, verbose=0))


def test_calling_before_adapt_raises():
    layer = CategoricalEmbeddings(["city"])
    with pytest.raises(ValueError, match="call `adapt"):
        layer({"city": np.array([0, 1])})


def test_unknown_column_raises():
    layer = adapted()
    data = dict(layer.preprocess(table(4)), colour=np.zeros(4, "int32"))
    with pytest.raises(ValueError, match=r"unknown columns \['colour'\]"):
        layer(data)


def test_missing_column_raises():
    layer = adapted()
    data = layer.preprocess(table(4))
    del data["store"]
    with pytest.raises(ValueError, match=r"lacks the columns \['store'\]"):
        layer(data)


def test_dtype_mismatch_raises():
    layer = adapted()
    data = dict(table(4), store=np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="`store` was adapted on int values but received string"):
        layer.preprocess(data)


def test_float_categorical_column_raises():
    layer = CategoricalEmbeddings(["x"])
    with pytest.raises(ValueError, match="`x` must hold strings or integers"):
        layer.adapt({"x": np.array([0.5, 1.5])})


def test_empty_vocabulary_raises():
    layer = CategoricalEmbeddings(["city"], min_frequency=1000)
    with pytest.raises(ValueError, match="empty vocabulary"):
        layer.adapt(table())


def test_invalid_embedding_rule_raises():
    with pytest.raises(ValueError, match="embedding_dims"):
        CategoricalEmbeddings(["city"], embedding_dims="cube_root")


def test_int8_quantized_tables_reload_from_keras_file(tmp_path):
    # model.quantize reaches the column tables only; the layer's config must record it for the reload.
    data = {"city": np.array(["a", "b", "a", "c"]), "age": np.array([1.0, 2.0, 3.0, 4.0])}
    layer = CategoricalEmbeddings(["city"], numeric_columns=["age"], embedding_dims=3)
    layer.adapt(data)
    ids = layer.preprocess(data)
    inputs = {"city": keras.Input((), dtype="int32", name="city"), "age": keras.Input((), name="age")}
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.quantize("int8")
    expected = model.predict(ids, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    table = restored.layers[-2].tables["city"]
    assert table.quantization_mode == "int8"
    assert any(str(w.dtype) == "int8" for w in table.weights)
    np.testing.assert_array_equal(restored.predict(ids, verbose=0), expected)
