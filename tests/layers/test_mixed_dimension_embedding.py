"""MixedDimensionEmbedding, mixed_dimensions (Ginart et al., 2021) and suggest_dimension."""

import keras
import numpy as np
import pytest
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.layers import MixedDimensionEmbedding
from keras_embed.layers import mixed_dimensions
from keras_embed.layers import suggest_dimension


def power_law_reference(sizes, alpha, base_dim):
    """DLRM's md_solver(n, alpha, d0): lambda = d0 * n_min**alpha, d_i = lambda * n_i**-alpha."""
    scale = base_dim * min(sizes) ** alpha
    return [max(1, int(np.round(scale * n ** -alpha))) for n in sizes]


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3, 0.5])
def test_mixed_dimensions_follow_the_power_law(alpha):
    sizes = [1_000_000, 37, 5_000, 120_000]
    assert mixed_dimensions(sizes, alpha=alpha, base_dim=128) == power_law_reference(sizes, alpha, 128)


def test_mixed_dimensions_round_to_multiples_and_powers_of_two():
    sizes = [10, 1000, 100_000]  # raw: 64, 64 * 10**-0.6 = 16.08, 64 * 10**-1.2 = 4.04
    assert mixed_dimensions(sizes, alpha=0.3, base_dim=64) == [64, 16, 4]
    assert mixed_dimensions(sizes, alpha=0.3, base_dim=64, round_to=8) == [64, 16, 8]
    assert mixed_dimensions(sizes, alpha=0.5, base_dim=64, round_to="pow2") == [64, 8, 1]  # 6.4 -> 8, 0.64 -> 1


def test_suggest_dimension_rules():
    assert suggest_dimension(10**8) == 100  # (1e8) ** 0.25
    assert suggest_dimension(10**6, rule="sqrt") == 1000
    assert suggest_dimension(1) == 1


def built_blocks(layout="blocks", **kwargs):
    layer = MixedDimensionEmbedding([5, 20, 60], output_dim=6, dims=[6, 4, 2], layout=layout, **kwargs)
    layer.build()
    rng = np.random.default_rng(0)
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape))
    tables = [to_numpy(table.embeddings) for table in layer.tables]
    projections = [np.eye(6)] + [to_numpy(p.kernel) for p in layer.projections[1:]]
    return layer, tables, projections


def test_blocks_embed_each_id_with_its_block_table_and_projection():
    layer, tables, projections = built_blocks()
    assert layer.projections[0] is None  # dims[0] == output_dim
    ids = np.array([[0, 4, 5, 24, 25, 84]])
    expected = np.stack(
        [
            tables[0][0] @ projections[0],
            tables[0][4] @ projections[0],
            tables[1][0] @ projections[1],
            tables[1][19] @ projections[1],
            tables[2][0] @ projections[2],
            tables[2][59] @ projections[2],
        ]
    )[None]
    np.testing.assert_allclose(to_numpy(layer(ids)), expected, rtol=1e-5, atol=1e-6)


def test_features_embed_each_column_with_its_own_table():
    layer, tables, projections = built_blocks(layout="features")
    ids = np.array([[4, 19, 59], [0, 0, 1]])
    expected = np.stack(
        [np.stack([tables[f][row[f]] @ projections[f] for f in range(3)]) for row in ids]
    )
    np.testing.assert_allclose(to_numpy(layer(ids)), expected, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((2, 3)) == (2, 3, 6)


def test_default_dims_come_from_the_power_law_rule():
    layer = MixedDimensionEmbedding([10, 1000, 100_000], output_dim=32, alpha=0.3, base_dim=64)
    assert layer.dims == mixed_dimensions([10, 1000, 100_000], 0.3, 64)
    assert MixedDimensionEmbedding([10, 1000], output_dim=32).dims[0] == 32  # base_dim defaults to output_dim


def test_out_of_range_ids_raise_when_known_and_embed_to_zero_when_compiled():
    layer, _, _ = built_blocks()
    with pytest.raises(ValueError, match=r"`inputs` holds 85 at index \(1,\), outside the valid range \[0, 85\)"):
        layer(np.array([3, 85]))
    outputs = to_numpy(compiled(layer)(np.array([3, 85, -1], "int32")))
    assert np.all(outputs[1:] == 0) and np.any(outputs[0] != 0)


def test_sequential_without_input_embeds_float_symbolic_ids():
    model = keras.Sequential([MixedDimensionEmbedding([10, 90], output_dim=4)])
    ids = np.array([[1, 50, 99]])
    np.testing.assert_allclose(model.predict(ids, verbose=0), to_numpy(model.layers[0](ids)), rtol=1e-5)


def test_int8_quantization_quantizes_tables_and_projections():
    model = keras.Sequential([keras.Input((2,), dtype="int32"), MixedDimensionEmbedding([10, 90], 16, dims=[16, 4])])
    ids = np.array([[1, 50]])
    before = to_numpy(model(ids))
    model.quantize("int8")
    layer = model.layers[0]
    assert keras.backend.standardize_dtype(layer.tables[1].embeddings.dtype) == "int8"
    assert keras.backend.standardize_dtype(layer.projections[1].kernel.dtype) == "int8"
    np.testing.assert_allclose(to_numpy(model(ids)), before, atol=0.01)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dims": [4]}, r"`dims` must have one entry per table of `input_dims` \(2 tables\)"),
        ({"dims": [4, 0]}, r"`dims\[1\]` must be a positive integer"),
        ({"input_dims": []}, "`input_dims` must be a non-empty list of positive integers"),
        ({"input_dims": [3, -1]}, r"`input_dims\[1\]` must be a positive integer"),
        ({"alpha": -0.1}, "`alpha` must be a number >= 0"),
        ({"layout": "rows"}, "`layout` must be one of"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixedDimensionEmbedding(**{"input_dims": [3, 30], "output_dim": 4, **kwargs})


def test_rejects_features_of_the_wrong_count_and_non_integer_ids():
    layer = MixedDimensionEmbedding([3, 30], 4, layout="features")
    with pytest.raises(ValueError, match="last input axis must hold one id per table"):
        layer(np.zeros((2, 3), "int32"))
    with pytest.raises(ValueError, match="`inputs` must hold integer ids"):
        layer(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="`rule` must be one of"):
        suggest_dimension(100, rule="cube_root")
