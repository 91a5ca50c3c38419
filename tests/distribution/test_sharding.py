"""Tables sharded over devices with `keras.distribution` (issue #14).

The multi-device checks need 8 JAX devices, which only exist if
`XLA_FLAGS=--xla_force_host_platform_device_count=8` is set before JAX
starts: `sharding_checks.py` runs them all in one subprocess (one start, one
set of compilations) and these tests assert on what it measured. The layout
map itself is plain Python and is tested in-process on every backend.
"""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import xla_test_flags

from keras_embed.distribution import embedding_layout_map
from keras_embed.layers import Embedding
from keras_embed.layers import EmbeddingBag
from keras_embed.layers import MaskedLMHead
from keras_embed.layers import PositionEmbedding
from keras_embed.layers import ReversibleEmbedding
from keras_embed.ops import row_padding

HERE = os.path.dirname(os.path.abspath(__file__))
MESH_SIZES = {"8": {"model": 8}, "2x4": {"batch": 2, "model": 4}, "4x2": {"batch": 4, "model": 2}}
CONFIGS = [f"{mesh}/{vocabulary}" for vocabulary in (64, 50257) for mesh in MESH_SIZES]

jax_only = pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="keras.distribution shards variables only on the JAX backend",
)


def mesh(shape=(2, 4), names=("batch", "model")):
    # Device names only: building a LayoutMap touches no device.
    return keras.distribution.DeviceMesh(shape, names, [f"cpu:{i}" for i in range(8)])


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding") / "checks.json"
    env = dict(os.environ)
    # The suite's unoptimised compiles (28 s -> 24 s here), and 8 host devices.
    env["XLA_FLAGS"] = f"{xla_test_flags.FAST_COMPILE} --xla_force_host_platform_device_count=8"
    env["KERAS_BACKEND"] = "jax"
    completed = subprocess.run(
        [sys.executable, os.path.join(HERE, "sharding_checks.py"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads(out.read_text())
    assert results["device_count"] == 8
    return results


def result(checks, name):
    value = checks[name]
    assert "error" not in value, value.get("error")
    return value


# --- the layout map (any backend) -------------------------------------------


def test_layout_map_shards_every_table_variable_over_the_model_axis():
    tokens = ReversibleEmbedding(100, 8, tie_weights=False, name="tokens")
    items = EmbeddingBag(50, 8, name="items")
    head = MaskedLMHead(vocabulary_size=100, name="head")
    positions = PositionEmbedding(16, name="positions")
    layout_map = embedding_layout_map([tokens, items, head, positions], mesh())
    axes = {key: layout_map[key].axes for key in layout_map}
    assert axes == {
        "(.*/)?tokens/embeddings": ("model", None),
        "(.*/)?tokens/reverse_embeddings": (None, "model"),
        "(.*/)?items/embeddings": ("model", None),
        "(.*/)?head/output_kernel": (None, "model"),
        "(.*/)?head/output_bias": ("model",),
    }


def test_layout_map_keys_match_variable_paths_under_any_parent():
    layout_map = embedding_layout_map([Embedding(10, 4, name="words")], mesh())
    assert layout_map["words/embeddings"].axes == ("model", None)
    assert layout_map["outer/inner/words/embeddings"].axes == ("model", None)
    assert layout_map["words/lora_embeddings_a"] is None


def test_layout_map_finds_tables_nested_in_a_model():
    ids = keras.Input((3,), dtype="int32")
    table = Embedding(10, 4, name="nested_words")
    model = keras.Model(ids, keras.layers.Dense(2)(table(ids)))
    layout_map = embedding_layout_map(model, mesh())
    assert list(layout_map) == ["(.*/)?nested_words/embeddings"]


def test_data_axis_splits_the_embedding_axis_of_two_dimensional_tables():
    head = MaskedLMHead(vocabulary_size=100, name="head")
    tokens = ReversibleEmbedding(100, 8, tie_weights=False, name="tokens")
    layout_map = embedding_layout_map([tokens, head], mesh(), data_axis="batch")
    assert layout_map["tokens/embeddings"].axes == ("model", "batch")
    assert layout_map["tokens/reverse_embeddings"].axes == ("batch", "model")
    assert layout_map["head/output_bias"].axes == ("model",)


def test_layout_map_adds_to_a_users_map_and_keeps_the_users_rules():
    device_mesh = mesh()
    own = keras.distribution.LayoutMap(device_mesh)
    own[".*dense.*kernel"] = (None, "model")
    own[".*words/embeddings"] = (None, "model")  # the user's choice for this table
    tables = [Embedding(10, 4, name="words"), Embedding(10, 4, name="tags")]
    merged = embedding_layout_map(tables, device_mesh, layout_map=own)
    assert merged is own
    assert merged["dense_1/kernel"].axes == (None, "model")
    assert merged["words/embeddings"].axes == (None, "model")
    assert merged["tags/embeddings"].axes == ("model", None)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"model_axis": "vocab"}, "`model_axis` must name an axis of the mesh"),
        ({"data_axis": "rows"}, "`data_axis` must name an axis of the mesh"),
        ({"data_axis": "model"}, "`data_axis` must differ from `model_axis`"),
        ({"mesh": mesh((8, 1))}, "has size 1 in the mesh"),
        ({"mesh": (2, 4)}, "`mesh` must be a keras.distribution.DeviceMesh"),
        ({"model_or_layers": [keras.layers.Dense(3)]}, "holds no keras-embed table"),
        ({"model_or_layers": "tokens"}, "`model_or_layers` must be a keras Model"),
        (
            {"layout_map": keras.distribution.LayoutMap(mesh())},
            "`layout_map` must be built on the same `mesh`",
        ),
    ],
)
def test_layout_map_rejects_bad_input_with_a_clear_error(arguments, message):
    arguments = {"model_or_layers": [Embedding(10, 4)], "mesh": mesh(), **arguments}
    with pytest.raises(ValueError, match=message):
        embedding_layout_map(**arguments)


def test_padded_row_count_is_the_next_multiple_of_the_shards():
    assert [row_padding.padded_row_count(50257, n) for n in (1, 2, 4, 8)] == [
        50257, 50258, 50260, 50264,
    ]
    assert row_padding.padded_row_count(64, 8) == 64


def test_tables_are_not_padded_without_a_distribution():
    table = ReversibleEmbedding(50257, 2, tie_weights=False)
    table.build()
    assert tuple(table.embeddings.shape) == (50257, 2)
    assert row_padding.padding_of(table.embeddings) is None


# --- on 8 virtual devices (JAX) --------------------------------------------


@jax_only
@pytest.mark.parametrize("config", CONFIGS)
def test_sharded_outputs_loss_and_gradients_equal_one_device(checks, config):
    # A language model and a bag model on the same ids, sharded vs one device.
    value = result(checks, f"lm_and_bag/{config}")
    assert value["output_error"] <= 1e-6 * max(value["output_scale"], 1.0)
    np.testing.assert_allclose(value["loss"], value["expected_loss"], rtol=1e-6)
    assert value["gradient_error"] <= 1e-6 * max(value["gradient_scale"], 1.0)


@jax_only
@pytest.mark.parametrize("config", CONFIGS)
def test_padding_rows_receive_no_gradient(checks, config):
    assert result(checks, f"lm_and_bag/{config}")["padding_gradient"] == 0.0


@jax_only
@pytest.mark.parametrize("config", CONFIGS)
def test_each_device_holds_one_nth_of_each_table(checks, config):
    mesh_name, vocabulary = config.split("/")
    sizes = MESH_SIZES[mesh_name]
    # On the 2x4 mesh the checks also split the embedding axis over "batch".
    columns = sizes["batch"] if mesh_name == "2x4" else 1
    tables = result(checks, f"lm_and_bag/{config}")["tables"]
    assert {"tokens/embeddings", "items/embeddings"} <= set(tables)
    for path, table in tables.items():
        rows_axis = 1 if path.endswith("reverse_embeddings") else 0
        stored = table["stored_shape"]
        expected_rows = row_padding.padded_row_count(int(vocabulary), sizes["model"])
        assert stored[rows_axis] == expected_rows
        shard = [stored[0] // sizes["model"], stored[1] // columns]
        if rows_axis == 1:
            shard = [stored[0] // columns, stored[1] // sizes["model"]]
        assert table["shard_shapes"] == [shard], path
        assert table["devices"] == 8


@jax_only
@pytest.mark.parametrize("config", CONFIGS)
def test_layers_show_unpadded_weights(checks, config):
    vocabulary = int(config.split("/")[1])
    shapes = result(checks, f"lm_and_bag/{config}")["weights_shapes"]
    assert shapes["items"] == [[vocabulary, 4]]
    assert shapes["tokens"][0] == [vocabulary, 4]


@jax_only
def test_masked_lm_head_kernel_and_bias_sharded_and_equal_to_one_device(checks):
    value = result(checks, "head/2x4/50257")
    assert value["output_error"] <= 1e-6 * value["output_scale"]
    np.testing.assert_allclose(value["loss"], value["expected_loss"], rtol=1e-6)
    assert value["gradient_error"] <= 1e-6 * value["gradient_scale"]
    # 50257 padded to 50260 over the 4-way model axis.
    assert value["tables"]["head/output_bias"]["shard_shapes"] == [[12565]]
    assert value["tables"]["head/output_kernel"]["shard_shapes"] == [[4, 12565]]


@jax_only
def test_fused_reverse_loss_of_a_padded_table_equals_the_unpadded_loss(checks):
    value = result(checks, "reverse_loss/8/50257")
    np.testing.assert_allclose(value["sharded"], value["one_device"], rtol=1e-6)


@jax_only
def test_fit_step_on_sharded_tables_equals_the_one_device_step(checks):
    value = result(checks, "fit/2x4/50257")
    np.testing.assert_allclose(value["loss"][1], value["loss"][0], rtol=1e-6)
    assert value["weight_error"] < 1e-5
    assert value["shardings"] == ["P('model', None)", "P(None, 'model')"]
    # Adam's moments follow the tables' layouts.
    assert {"P('model', None)", "P(None, 'model')"} <= set(value["optimizer_slot_shardings"])
    assert value["padding_rows_max"] == 0.0


@jax_only
def test_keras_file_saved_on_one_device_loads_sharded_and_back(checks):
    value = result(checks, "save/round_trips")
    assert value["sharded_stored_shape"] == [50258, 4]
    assert value["sharded_reverse_stored_shape"] == [4, 50258]
    assert value["sharded_vs_single"] == 0.0
    # The file written by the sharded model is unpadded and loads on one device.
    assert value["reloaded_shapes"] == [[50257, 4], [4, 50257]]
    assert value["reloaded_devices"] == 1
    assert value["reloaded_vs_single"] == 0.0


@jax_only
def test_sharded_layer_weights_and_vectors_export_are_unpadded(checks):
    value = result(checks, "save/round_trips")
    assert value["sharded_get_weights"] == [[50257, 4], [4, 50257]]
    assert value["sharded_vectors_shape"] == [50257, 4]


@jax_only
@pytest.mark.parametrize(
    "case, message",
    [
        ("axis_not_in_mesh", "`model_axis` must name an axis of the mesh"),
        ("axis_of_size_one", "has size 1 in the mesh"),
        ("columns_not_divisible", "splits axis 1 of `odd/embeddings` \\(size 3\\) over 2 devices"),
        ("id_past_input_dim", "outside .*50257"),
        ("set_weights_wrong_shape", "holds 50257 rows .* Received an array of shape \\(50000, 4\\)"),
        ("sparse_on_sharded", "Row-sparse training .* does not support sharded tables yet"),
        ("lora_on_padded", "LoRA is not supported on a table stored padded"),
        ("quantize_on_padded", "Quantization is not supported on a table stored padded"),
    ],
)
def test_sharded_tables_reject_bad_input_with_a_clear_error(checks, case, message):
    error = result(checks, "errors")[case]
    assert error is not None, f"{case} raised no ValueError"
    assert re.search(message, error), error


@jax_only
def test_compiled_lookup_of_an_id_in_the_padding_gives_zeros(checks):
    # Id 50260 is a stored padding row of the table padded to 50264; compiled, any id
    # past input_dim embeds to zeros, as on one device.
    assert result(checks, "errors")["compiled_padding_id_norm"] == 0.0
