import math

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_number
from keras_embed._validation import check_positive_float
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_row_index
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.layers._row_sparse import add_row_gradient_carrier
from keras_embed.layers._row_sparse import check_sparse_compatible
from keras_embed.layers._row_sparse import restore_code_loss
from keras_embed.layers._row_sparse import sparse_training_rows
from keras_embed.ops._backend import stored_value
from keras_embed.ops._backend import writes_persist_from_call
from keras_embed.layers._padded_table import PaddedTableMixin
from keras_embed.ops.lookup import apply_embedding_rules
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import assign_rows
from keras_embed.ops.lookup import check_index_range
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows


def check_norm_type(norm_type):
    """The p of a p-norm: a positive number, `float("inf")` for the largest absolute value."""
    return float(check_number("norm_type", norm_type, sign="positive"))


def check_embeddings_scale(embeddings_scale):
    if embeddings_scale is None or embeddings_scale == "sqrt":
        return embeddings_scale
    expected = "None, 'sqrt' or a positive number"
    return float(check_number("embeddings_scale", embeddings_scale, "positive", True, expected=expected))


@keras.saving.register_keras_serializable(package="keras_embed")
class Embedding(CheckedCallArgumentsMixin, PaddedTableMixin, keras.layers.Embedding):
    """A `keras.layers.Embedding` with everything torch's `nn.Embedding` has.

    Maps integer ids of shape `(...)` to rows of a trainable
    `(input_dim, output_dim)` table named `embeddings`, as
    `keras.layers.Embedding` does (same arguments, defaults, weights, masking,
    `quantize("int8")` / `quantize("int4")`, LoRA and `.keras` files), plus:

    - `padding_idx`: the row of that id starts at zero, every position holding
      it embeds to zeros and passes no gradient to the table, so the row stays
      exactly zero through `fit` with any keras optimizer (a zero gradient
      leaves momentum, Adam moments and weight decay of a zero row at zero).
      It is independent of `mask_zero`, which only adds a Keras mask where the
      id is 0; use `mask_zero=True, padding_idx=0` for both on id 0.
    - `max_norm`: every looked-up row whose `norm_type`-norm exceeds
      `max_norm` is rescaled by `max_norm / (norm + 1e-7)` (torch's rule),
      the output uses the rescaled rows and they are written back into the
      table, in place on torch and TensorFlow. The gradient reaches the
      table unscaled, as in torch. On JAX, a training step (`model.fit`,
      any stateless call) cannot write a trainable table from inside the
      forward pass: the output still uses the rescaled rows, but the table
      after the step is `w - lr * g` where torch's is `renorm(w) - lr * g`;
      rows are rescaled again whenever they are looked up. JAX writes back
      in eager calls, and for frozen tables in stateless calls. Quantized or
      LoRA tables
      are never written: only the output is rescaled.
    - `scale_grad_by_freq`: the gradient reaching a row is divided by how
      often its id occurs in the call's ids (torch's rule).
    - `embeddings_scale`: `None`, `"sqrt"` (multiply the output by
      `sqrt(output_dim)`, Vaswani et al.) or a positive number; the product is
      computed in float32 and cast to the compute dtype once.

    Ids outside `[0, input_dim)` raise a `ValueError` whenever their values are
    known (eager calls); inside compiled functions they embed to zeros (keras
    returns NaN on JAX and wraps negative ids). Float ids are cast to int32,
    as keras does, but concrete float ids with a fractional part raise, and
    float16 / bfloat16 ids are refused (they cannot hold every id).

    Differences from torch: the output at `padding_idx` is always zero (torch
    returns the stored row, which is zero unless a user or `from_pretrained`
    set it), and `from_pretrained` zeroes that row.

    Args:
        input_dim: int. Number of rows (largest id + 1).
        output_dim: int. Size of each embedding vector.
        embeddings_initializer: Initializer for the table. Defaults to
            `"uniform"`.
        embeddings_regularizer: Regularizer for the table.
        embeddings_constraint: Constraint for the table.
        mask_zero: bool. Whether the output carries a Keras mask that is
            `False` where the id is 0. Defaults to `False`.
        padding_idx: int or `None`. The padding row; negative values count
            from the end. Defaults to `None`.
        max_norm: positive float or `None`. Largest norm of a looked-up row.
        norm_type: positive float. The p of the p-norm `max_norm` bounds;
            `float("inf")` for the largest absolute value. Defaults to 2.
        scale_grad_by_freq: bool. Defaults to `False`.
        embeddings_scale: `None`, `"sqrt"` or a positive number multiplying
            the output. Defaults to `None`.
        sparse: bool. Row-sparse training: with an optimizer from
            `keras_embed.optimizers`, a training step updates only the rows
            it looked up (and their optimizer slots), with no `(V, d)`
            temporary; step time does not grow with `input_dim`. With any
            other optimizer the table trains densely (correct, slow) and a
            warning says so. Needs `embeddings_regularizer` and
            `embeddings_constraint` to be `None` (both act on every row), and
            one lookup of the table per training step. See
            `keras_embed.ops.row_sparse` for how. Defaults to `False`.
        sparse_capacity: int or `None`. With `sparse=True`, the most ids one
            training call looks up; by default the number of ids in the
            input shape the layer is built on (in `keras.Sequential` without
            an `Input`, the first training batch's on JAX and torch), which
            must then be fully known. The layer holds a
            `(sparse_capacity, output_dim + 3)` float32 row-gradient carrier
            of zeros.
        **kwargs: Other `keras.layers.Embedding` arguments (`weights`,
            `lora_rank`, `lora_alpha`, `quantization_config`, `name`,
            `dtype`, `trainable`, ...).

    Call arguments:
        inputs: integer ids of shape `(...)`.

    Input shape:
        Any shape `(...)`, typically `(batch_size, sequence_length)`.

    Output shape:
        `(..., output_dim)`.

    Returns:
        The embeddings, in the compute dtype.

    Example:

    >>> import numpy as np
    >>> embedding = Embedding(10, 4, padding_idx=0, max_norm=1.0,
    ...                       embeddings_scale="sqrt")
    >>> outputs = embedding(np.array([[0, 3, 5]]))
    >>> tuple(outputs.shape)
    (1, 3, 4)
    >>> float(keras.ops.max(keras.ops.abs(outputs[0, 0])))
    0.0

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    checked_call_arguments = {"inputs": "ids"}

    row_sharded_variables = {"embeddings": ("rows", None)}

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        embeddings_scale=None,
        sparse=False,
        sparse_capacity=None,
        **kwargs,
    ):
        check_positive_int("input_dim", input_dim)
        check_positive_int("output_dim", output_dim)
        self.padding_idx = check_row_index("padding_idx", padding_idx, input_dim)
        self.max_norm = check_positive_float("max_norm", max_norm, allow_none=True)
        self.norm_type = check_norm_type(norm_type)
        self.scale_grad_by_freq = check_bool("scale_grad_by_freq", scale_grad_by_freq)
        # Not `self.embeddings_scale`: keras' quantized table names its scales so.
        self.output_scale = check_embeddings_scale(embeddings_scale)
        check_bool("mask_zero", mask_zero)
        self.sparse = check_bool("sparse", sparse)
        self.sparse_capacity = check_positive_int("sparse_capacity", sparse_capacity, allow_none=True)
        if self.sparse:
            check_sparse_compatible(embeddings_regularizer, embeddings_constraint)
        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            **kwargs,
        )

    def build(self, input_shape=None):
        if self.built:
            return
        super().build(input_shape)
        if self.sparse:
            self.row_gradient_carrier = add_row_gradient_carrier(
                self, self._embeddings, input_shape, self.sparse_capacity
            )
        if self.padding_idx is not None and self.quantization_mode is None:
            assign_rows(self._embeddings, [self.padding_idx], np.zeros((1, self.output_dim)))

    @property
    def output_multiplier(self):
        """The float `embeddings_scale` stands for, or `None`."""
        if self.output_scale == "sqrt":
            return math.sqrt(self.output_dim)
        return self.output_scale

    def _clear_losses(self):
        super()._clear_losses()
        if self.sparse:
            restore_code_loss(self)

    def call(self, inputs):
        return self._scale_and_cast(self.lookup(integer_ids("inputs", inputs)))

    def _scale_and_cast(self, outputs):
        """`embeddings_scale` applied in float32, then one cast to the compute dtype."""
        if self.output_multiplier is not None:
            outputs = ops.multiply(ops.cast(outputs, "float32"), self.output_multiplier)
        return ops.cast(outputs, self.compute_dtype)

    def quantized_call(self, *args, **kwargs):
        # Quantized tables gather through `lookup` too, so every rule still applies.
        return self.call(*args, **kwargs)

    def lookup(self, ids):
        """The table rows of integer `ids` under this layer's rules: `(...)` -> `(..., output_dim)`.

        Every forward pass of the table goes through here (in the table's
        dtype, before `embeddings_scale`); with `max_norm` it also writes the
        renormalised rows back into the table.
        """
        rows, renormalized = apply_embedding_rules(
            self._gather(ids),
            ids,
            padding_idx=self.padding_idx,
            max_norm=self.max_norm,
            norm_type=self.norm_type,
            scale_grad_by_freq=self.scale_grad_by_freq,
        )
        if renormalized is not None and self._writes_renormalized_rows(ids):
            assign_rows(self._embeddings, ids, ops.stop_gradient(renormalized))
        return rows

    def _gather(self, ids):
        what = table_rows("input_dim", self.input_dim)
        mode = self.quantization_mode
        if mode in ("int8", "int4"):
            dequantized_rows = self._int8_call if mode == "int8" else self._int4_call
            return lookup_rows(dequantized_rows, ids, "inputs", what, rows=self.input_dim)
        # Gather float32 rows, not rows of a table cast whole to bfloat16.
        table = stored_value(lambda: self.embeddings)
        if self.sparse and self._embeddings.trainable:
            check_index_range("inputs", ids, self.input_dim, what)
            rows = sparse_training_rows(self, table, ids, self.padding_idx)
            if rows is not None:
                return rows
        return lookup_rows(table, ids, "inputs", what, rows=self.input_dim)

    def _writes_renormalized_rows(self, ids):
        if self.quantization_mode is not None or self.lora_enabled:
            return False
        return writes_persist_from_call(self._embeddings, ids)

    @property
    def variable_serialization_spec(self):
        spec = super().variable_serialization_spec
        if not self.sparse:
            return spec
        # The carrier (zeros) is a weight too; `.keras` files keep it after the table.
        return {**spec, None: list(spec[None]) + ["row_gradient_carrier"]}

    def quantize(self, mode=None, type_check=True, config=None):
        # keras refuses subclasses, whose `call` could bypass the quantized
        # table; every lookup here goes through `_gather`, which reads it.
        super().quantize(mode, type_check=False, config=config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "padding_idx": self.padding_idx,
                "max_norm": self.max_norm,
                "norm_type": self.norm_type,
                "scale_grad_by_freq": self.scale_grad_by_freq,
                "embeddings_scale": self.output_scale,
                "sparse": self.sparse,
                "sparse_capacity": self.sparse_capacity,
            }
        )
        return config

    @classmethod
    def from_pretrained(
        cls,
        matrix,
        freeze=True,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        **kwargs,
    ):
        """A layer whose table is `matrix`, as torch's `nn.Embedding.from_pretrained`.

        Args:
            matrix: array-like of shape `(input_dim, output_dim)`.
            freeze: bool. If `True` (default) the table is not trained.
            padding_idx, max_norm, norm_type, scale_grad_by_freq: as in the
                constructor. The `padding_idx` row of the table is zeroed.
            **kwargs: other constructor arguments (`mask_zero`, `name`, ...).

        Returns:
            A built layer.

        Example:

        >>> import numpy as np
        >>> layer = Embedding.from_pretrained(np.eye(3, dtype="float32"))
        >>> keras.ops.convert_to_numpy(layer(np.array([2])))
        array([[0., 0., 1.]], dtype=float32)
        >>> layer.trainable
        False
        """
        check_bool("freeze", freeze)
        values = matrix if isinstance(matrix, np.ndarray) else ops.convert_to_numpy(matrix)
        if values.ndim != 2 or 0 in values.shape:
            raise ValueError(
                "`matrix` must be a non-empty 2-D array of shape (input_dim, output_dim). "
                f"Received: an array of shape {values.shape}."
            )
        kwargs.setdefault("embeddings_initializer", "zeros")
        layer = cls(
            values.shape[0],
            values.shape[1],
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            trainable=not freeze,
            **kwargs,
        )
        layer.build()
        if layer.padding_idx is not None:
            values = values.copy()
            values[layer.padding_idx] = 0
        layer.set_weights([values])
        return layer
