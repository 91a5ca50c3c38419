import math

import keras
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_choice
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows

_OPERATIONS = ("mult", "add", "concat")


@keras.saving.register_keras_serializable(package="keras_embed")
class QREmbedding(SublayerQuantizationMixin, keras.layers.Layer):
    """A compositional embedding from a quotient table and a remainder table.

    The quotient-remainder trick (Shi et al., 2020): id `i` of `input_dim`
    reads row `i // num_collisions` of a quotient table of
    `ceil(input_dim / num_collisions)` rows and row `i % num_collisions` of a
    remainder table of `num_collisions` rows, and combines them:

        "mult":   Q[i // c] * R[i % c]              (element-wise)
        "add":    Q[i // c] + R[i % c]
        "concat": concat(Q[i // c], R[i % c])       (Q has ceil(d/2) columns, R floor(d/2))

    No two ids share both rows, yet the tables hold about
    `(input_dim / c + c) * output_dim` parameters instead of
    `input_dim * output_dim`.

    The quotient and remainder use integer floor division on the ids' own
    integer dtype (int64 stays int64), never float32, so ids above 2**24
    land on their exact rows.

    Initialisation: each table is drawn from
    `uniform(-sqrt(1 / rows), sqrt(1 / rows))` with `rows` its own row count,
    symmetric around zero (the bound DLRM's QR embedding intends; its
    `uniform_(w, sqrt(1 / n))` sets only the lower bound, leaving every
    weight positive). `embeddings_initializer` replaces it for both tables.

    Ids outside `[0, input_dim)` raise a `ValueError` when their values are
    known; inside compiled functions they embed to all-zero vectors. Float ids
    (what `keras.Sequential` without an `Input` feeds) are cast to int32 and
    must be whole numbers (float32 holds
    every integer only up to 2**24); float16 and bfloat16 ids (what it feeds under a
    mixed policy) are refused, since they cannot hold ids above 256 exactly.

    Args:
        input_dim: int. Number of ids.
        output_dim: int. Size of each embedding (at least 2 for `"concat"`).
        num_collisions: int. Rows of the remainder table: the number of ids
            that share each quotient row.
        operation: `"mult"`, `"add"` or `"concat"`. Defaults to `"mult"`.
        embeddings_initializer: initializer of both tables, or `None` for the
            symmetric per-table uniform above. Defaults to `None`.
        mask_zero: bool. Whether id 0 is padding. Defaults to `False`.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: integer ids of shape `(...)`.

    Input shape:
        `(...)`.

    Output shape:
        `(..., output_dim)`.

    Returns:
        The embeddings in the compute dtype.

    The tables are `keras.layers.Embedding` sublayers, so
    `model.quantize("int8")` (or `"int4"`, or `layer.quantize(...)`)
    quantizes both, and a `.keras` file keeps them quantized.

    Example:

    >>> import numpy as np
    >>> layer = QREmbedding(input_dim=10_000_000, output_dim=16, num_collisions=4096)
    >>> tuple(layer(np.array([[0, 9_999_999]])).shape)
    (1, 2, 16)
    >>> layer.count_params()  # (2442 + 4096) rows of 16, not 160M parameters
    104608

    References:
        - [Shi et al., 2020](https://arxiv.org/abs/1909.02107)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        num_collisions,
        operation="mult",
        embeddings_initializer=None,
        mask_zero=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.num_collisions = check_positive_int("num_collisions", num_collisions)
        check_choice("operation", operation, _OPERATIONS)
        if operation == "concat" and output_dim < 2:
            raise ValueError(
                "`output_dim` must be at least 2 with operation='concat' (each table "
                f"gets part of it). Received: output_dim={describe(output_dim)}."
            )
        check_bool("mask_zero", mask_zero)
        self.operation = operation
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self.embeddings_initializer = (
            None if embeddings_initializer is None else keras.initializers.get(embeddings_initializer)
        )
        # Ids reach `call` as given: keras would cast numpy ids to the float compute dtype.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.quotient_rows = math.ceil(self.input_dim / self.num_collisions)
        if operation == "concat":
            widths = (output_dim - output_dim // 2, output_dim // 2)
        else:
            widths = (output_dim, output_dim)
        self.quotient = self._table(self.quotient_rows, widths[0], "quotient")
        self.remainder = self._table(self.num_collisions, widths[1], "remainder")

    def _table(self, rows, width, name):
        initializer = self.embeddings_initializer
        if initializer is None:
            bound = math.sqrt(1.0 / rows)
            initializer = keras.initializers.RandomUniform(-bound, bound)
        else:
            initializer = initializer.clone()
        return keras.layers.Embedding(
            rows, width, embeddings_initializer=initializer, dtype=self.dtype_policy, name=name
        )

    def build(self, input_shape=None):
        self.restore_sublayer_quantization()
        self.quotient.build()
        self.remainder.build()
        self.built = True

    def quotient_remainder(self, inputs):
        """`(ids // num_collisions, ids % num_collisions)`, by integer floor division."""
        ids = integer_ids("inputs", inputs)
        # Divide in the ids' own dtype (int64 stays int64); both results are row
        # numbers of tables, below 2**31, so int32 holds them exactly.
        collisions = ops.convert_to_tensor(self.num_collisions, dtype=ids.dtype)
        quotient = ops.cast(ops.floor_divide(ids, collisions), "int32")
        return quotient, ops.cast(ops.mod(ids, collisions), "int32")

    def call(self, inputs):
        ids = integer_ids("inputs", inputs)
        what = table_rows("input_dim", self.input_dim)
        return lookup_rows(self._combined_rows, ids, "inputs", what, rows=self.input_dim)

    def _combined_rows(self, ids):
        """The combined rows of ids in `[0, input_dim)`: `(...) -> (..., output_dim)`."""
        quotient, remainder = self.quotient_remainder(ids)
        # (..., quotient width) and (..., remainder width)
        rows_q = ops.cast(self.quotient(quotient), self.compute_dtype)
        rows_r = ops.cast(self.remainder(remainder), self.compute_dtype)
        if self.operation == "mult":
            return ops.multiply(rows_q, rows_r)
        if self.operation == "add":
            return ops.add(rows_q, rows_r)
        return ops.concatenate([rows_q, rows_r], axis=-1)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(integer_ids("inputs", inputs), 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        initializer = self.embeddings_initializer
        config.update(
            {
                "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "num_collisions": self.num_collisions,
                "operation": self.operation,
                "embeddings_initializer": (
                    None if initializer is None else keras.initializers.serialize(initializer)
                ),
                "mask_zero": self.mask_zero,
            }
        )
        return config
