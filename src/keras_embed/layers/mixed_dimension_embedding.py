import functools
import math

import keras
from keras import ops

from keras_embed._validation import check_choice
from keras_embed._validation import check_integer_list
from keras_embed._validation import check_number
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import gather_or_zeros
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows

_LAYOUTS = ("blocks", "features")


def _fourth_root(input_dim):
    """d = V ** (1/4): the rule of thumb of the TensorFlow feature-column guide."""
    return input_dim**0.25


def _square_root(input_dim):
    """d = V ** (1/2): the larger rule of thumb for rich categorical features."""
    return input_dim**0.5


DIMENSION_RULES = {"fourth_root": _fourth_root, "sqrt": _square_root}


def suggest_dimension(input_dim, rule="fourth_root"):
    """A rule-of-thumb embedding size for a vocabulary of `input_dim` ids.

    Rules (see `DIMENSION_RULES`): `"fourth_root"`, `d = V ** (1/4)`, and
    `"sqrt"`, `d = V ** (1/2)`; the result is rounded to the nearest integer,
    at least 1.

    Args:
        input_dim: int. Vocabulary size `V`.
        rule: `"fourth_root"` or `"sqrt"`. Defaults to `"fourth_root"`.

    Returns:
        int.

    Example:

    >>> suggest_dimension(10_000), suggest_dimension(10_000, rule="sqrt")
    (10, 100)
    """
    check_positive_int("input_dim", input_dim)
    check_choice("rule", rule, sorted(DIMENSION_RULES))
    return max(1, round(DIMENSION_RULES[rule](input_dim)))


def _check_alpha(alpha):
    return check_number("alpha", alpha, sign="non-negative", expected="a number >= 0")


def _round_dimension(value, round_to):
    if round_to is None:
        return max(1, round(value))
    if round_to == "pow2":
        return 2 ** max(0, round(math.log2(max(value, 1))))
    return max(round_to, round_to * round(value / round_to))


def mixed_dimensions(input_dims, alpha=0.3, base_dim=64, round_to=None):
    """Ginart et al.'s power-law dimensions: popular (small) tables get more columns.

    Following Ginart et al. (2021), the per-row popularity of a table of `n`
    ids is taken as `1 / n` (the rule of their DLRM `md_solver` when no
    frequencies are given), and dimensions follow `d ~ popularity ** alpha`:
    the smallest table gets `base_dim` and table `i` gets

        d_i = base_dim * (min(input_dims) / input_dims[i]) ** alpha

    rounded to the nearest integer (at least 1). `alpha=0` gives every table
    `base_dim`; larger `alpha` shrinks the large tables faster.

    Args:
        input_dims: list of int. Rows of each table (features, or frequency
            blocks of one vocabulary from the most to the least frequent).
        alpha: float >= 0. The power-law temperature. Defaults to 0.3.
        base_dim: int. Dimension of the smallest table. Defaults to 64.
        round_to: `None` (nearest integer), an int `m` (nearest multiple of
            `m`, at least `m`) or `"pow2"` (nearest power of two, as
            `md_solver(..., round_dim=True)`). Defaults to `None`.

    Returns:
        list of int, one dimension per table, in the order of `input_dims`.

    Example:

    >>> mixed_dimensions([100, 10_000, 1_000_000], alpha=0.25, base_dim=64)
    [64, 20, 6]
    >>> mixed_dimensions([100, 10_000, 1_000_000], alpha=0.25, base_dim=64, round_to="pow2")
    [64, 16, 8]
    """
    input_dims = check_integer_list("input_dims", input_dims)
    _check_alpha(alpha)
    base_dim = check_positive_int("base_dim", base_dim)
    if round_to is not None and round_to != "pow2":
        check_positive_int("round_to", round_to)
    smallest = min(input_dims)
    return [_round_dimension(base_dim * (smallest / rows) ** alpha, round_to) for rows in input_dims]


@keras.saving.register_keras_serializable(package="keras_embed")
class MixedDimensionEmbedding(SublayerQuantizationMixin, keras.layers.Layer):
    """Tables of different widths, each projected to one common width.

    Mixed-dimension embeddings (Ginart et al., 2021) give frequent ids (or
    small, popular features) wide rows and rare ids narrow ones: table `i`
    has `input_dims[i]` rows of `dims[i]` columns and a trainable
    `(dims[i], output_dim)` projection (none when `dims[i] == output_dim`).
    With `dims=None` the widths come from `mixed_dimensions(input_dims,
    alpha, base_dim or output_dim)`.

    Two layouts:

    - `"blocks"`: one vocabulary whose ids are sorted by frequency and split
      into consecutive blocks; id `j` belongs to the block whose range
      `[offset_i, offset_i + input_dims[i])` holds it. Inputs `(...)`,
      outputs `(..., output_dim)`.
    - `"features"`: one table per categorical feature; column `i` of the
      last input axis holds ids of feature `i`. Inputs `(..., features)`,
      outputs `(..., features, output_dim)`.

    Float32 ids (what `keras.Sequential` without an `Input` feeds) are cast to
    int32; float16 and bfloat16 ids are refused, since they cannot hold ids
    above 256 exactly: under a mixed policy give the model an integer `Input`.

    Ids outside their table raise a `ValueError` when their values are known;
    inside compiled functions they embed to all-zero vectors.

    Args:
        input_dims: list of int. Rows of each table.
        output_dim: int. Common output width.
        dims: list of int, one width per table, or `None` for the power-law rule.
        alpha: float. Power-law temperature when `dims` is `None`. Defaults to 0.3.
        base_dim: int. Width of the smallest table when `dims` is `None`.
            Defaults to `output_dim`.
        layout: `"blocks"` or `"features"`. Defaults to `"blocks"`.
        embeddings_initializer: initializer of the tables. Defaults to `"uniform"`.
        projection_initializer: initializer of the projections. Defaults to
            `"glorot_uniform"`.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: integer ids, `(...)` or `(..., features)` as the layout says.

    Input shape:
        `(...)` for `"blocks"`; `(..., len(input_dims))` for `"features"`.

    Output shape:
        `(..., output_dim)` for `"blocks"`; `(..., len(input_dims), output_dim)`
        for `"features"`.

    Returns:
        The embeddings in the compute dtype.

    Tables and projections are `keras.layers.Embedding` and
    `keras.layers.Dense` sublayers, so `model.quantize("int8")` (or
    `layer.quantize(...)`) quantizes them, and a `.keras` file keeps them
    quantized.

    Example:

    >>> import numpy as np
    >>> layer = MixedDimensionEmbedding([100, 10_000], output_dim=16, alpha=0.25)
    >>> layer.dims
    [16, 5]
    >>> tuple(layer(np.array([[3, 150, 10_099]])).shape)  # ids of block 0, 1, 1
    (1, 3, 16)

    References:
        - [Ginart et al., 2021](https://arxiv.org/abs/1909.11810)
    """

    def __init__(
        self,
        input_dims,
        output_dim,
        dims=None,
        alpha=0.3,
        base_dim=None,
        layout="blocks",
        embeddings_initializer="uniform",
        projection_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dims = check_integer_list("input_dims", input_dims)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.base_dim = check_positive_int("base_dim", base_dim, allow_none=True)
        self.alpha = _check_alpha(alpha)
        self.layout = check_choice("layout", layout, _LAYOUTS)
        if dims is None:
            self.dims = mixed_dimensions(self.input_dims, alpha, self.base_dim or self.output_dim)
            self._given_dims = None
        else:
            self.dims = check_integer_list("dims", dims)
            if len(self.dims) != len(self.input_dims):
                raise ValueError(
                    f"`dims` must have one entry per table of `input_dims` ({len(self.input_dims)} "
                    f"tables). Received: dims={describe(dims)} for input_dims={self.input_dims}."
                )
            self._given_dims = list(self.dims)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.projection_initializer = keras.initializers.get(projection_initializer)
        self.offsets = [sum(self.input_dims[:i]) for i in range(len(self.input_dims))]
        # Ids reach `call` as given: keras would cast numpy ids to the float compute dtype.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.tables, self.projections = [], []
        for index, (rows, width) in enumerate(zip(self.input_dims, self.dims)):
            table = keras.layers.Embedding(
                rows,
                width,
                embeddings_initializer=self.embeddings_initializer.clone(),
                dtype=self.dtype_policy,
                name=f"table_{index}",
            )
            projection = None
            if width != self.output_dim:
                projection = keras.layers.Dense(
                    self.output_dim,
                    use_bias=False,
                    kernel_initializer=self.projection_initializer.clone(),
                    dtype=self.dtype_policy,
                    name=f"projection_{index}",
                )
            self.tables.append(table)
            self.projections.append(projection)

    def build(self, input_shape=None):
        self.restore_sublayer_quantization()
        for table, projection, width in zip(self.tables, self.projections, self.dims):
            table.build()
            if projection is not None:
                projection.build((None, width))
        self.built = True

    def _embed(self, index, local_ids):
        """Rows of table `index` for in-range `local_ids`, projected: `(..., output_dim)`."""
        rows = self.tables[index](local_ids)
        if self.projections[index] is not None:
            rows = self.projections[index](rows)
        return ops.cast(rows, self.compute_dtype)

    def call(self, inputs):
        ids = integer_ids("inputs", inputs)
        if self.layout == "features":
            return self._call_features(ids)
        total = sum(self.input_dims)
        what = table_rows("sum(input_dims)", total)
        return lookup_rows(self._block_rows, ids, "inputs", what, rows=total)

    def _block_rows(self, ids):
        """Rows of ids in `[0, sum(input_dims))` from their blocks' tables: `(...) -> (..., output_dim)`."""
        outputs = None
        for index, (offset, rows) in enumerate(zip(self.offsets, self.input_dims)):
            # Each id falls in one block; every other table gives it zeros.
            embedded = gather_or_zeros(functools.partial(self._embed, index), ops.subtract(ids, offset), rows)
            outputs = embedded if outputs is None else ops.add(outputs, embedded)
        return outputs

    def _call_features(self, ids):
        if len(ids.shape) == 0 or ids.shape[-1] != len(self.input_dims):
            raise ValueError(
                f"With layout='features' the last input axis must hold one id per table "
                f"({len(self.input_dims)}). Received: inputs of shape {tuple(ids.shape)}."
            )
        columns = [
            lookup_rows(
                functools.partial(self._embed, index),
                ids[..., index],
                f"inputs[..., {index}]",
                table_rows(f"input_dims[{index}]", rows),
                rows=rows,
            )
            for index, rows in enumerate(self.input_dims)
        ]
        return ops.stack(columns, axis=-2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_dims": list(self.input_dims),
                "output_dim": self.output_dim,
                "dims": self._given_dims,
                "alpha": self.alpha,
                "base_dim": self.base_dim,
                "layout": self.layout,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "projection_initializer": keras.initializers.serialize(self.projection_initializer),
            }
        )
        return config
