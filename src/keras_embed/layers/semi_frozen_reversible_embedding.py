"""`SemiFrozenReversibleEmbedding`: a reversible embedding whose table trains only chosen rows.

The table is split in two variables: the full table, non-trainable, and the
rows that train. Optimisers, weight decay, momentum, regularisers and
constraints only ever see the second variable, so the other rows stay
bit-identical through `fit` on every backend. A gradient mask would not:
decoupled weight decay (AdamW) and constraints change a variable whatever its
gradient.
"""

import copy

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_integer
from keras_embed.layers.reversible_embedding import ReversibleEmbedding
from keras_embed.ops._backend import attach_mask
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import in_range
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows
from keras_embed.ops.lookup import take_or_zeros


@keras.saving.register_keras_serializable(package="keras_embed")
class SemiFrozenReversibleEmbedding(ReversibleEmbedding):
    """A `ReversibleEmbedding` whose table is frozen except for chosen rows.

    The layer holds the full `(input_dim, output_dim)` table in a
    non-trainable variable `embeddings`, the `num_trainable_rows` rows that
    train in a trainable `(num_trainable_rows, output_dim)` variable
    `trainable_embeddings`, and which row each of them replaces in the
    non-trainable int32 `(input_dim,)` variable `row_slots` (-1 for frozen
    rows). The frozen rows never reach an optimiser, so they stay
    bit-identical through training, weight decay and momentum included; the
    regulariser and constraint apply to the trainable rows only. An untied
    reverse matrix (`tie_weights=False`) is trainable as usual.

    `ReversibleEmbedding.from_vectors(..., trainable="missing_only")` builds
    one whose trainable rows are the tokens without a pre-trained vector;
    `SemiFrozenReversibleEmbedding.from_vectors` also takes `trainable=True`
    (every row trains) and `False` (none does). Reading `layer.embeddings`
    gives the merged table the layer computes with.

    Args:
        input_dim: int. Size of the vocabulary.
        output_dim: int. Size of each embedding vector.
        num_trainable_rows: int in `[0, input_dim]`: how many rows train. Say
            which with `assign_table` after `build`.
        **kwargs: `ReversibleEmbedding` arguments (`tie_weights`,
            `mask_zero`, `reverse_dtype`, `logit_soft_cap`, ...). LoRA is
            not supported. `quantize("int8")` / `quantize("int4")` stores the
            merged table as `ReversibleEmbedding` does and drops
            `row_slots` and `trainable_embeddings`: a quantised layer does
            not train.

    Call arguments:
        inputs: integer ids of shape `(...)`, or hidden states of shape
            `(..., output_dim)` when `reverse=True`.
        reverse: bool. Project to the vocabulary instead of embedding.

    Input shape:
        `reverse=False`: integer ids `(...)`, e.g. `(batch, sequence)`.
        `reverse=True`: hidden states `(..., output_dim)`.

    Output shape:
        `reverse=False`: `(..., output_dim)`.
        `reverse=True`: `(..., input_dim)`.

    Returns:
        `(..., output_dim)` embeddings, or `(..., input_dim)` logits.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from keras_embed.layers import SemiFrozenReversibleEmbedding
    >>> layer = SemiFrozenReversibleEmbedding(4, 2, num_trainable_rows=1, name="words")
    >>> layer.build()
    >>> layer.assign_table(np.arange(8.0).reshape(4, 2), trainable_row_ids=[3])
    >>> [w.path for w in layer.trainable_weights]
    ['words/trainable_embeddings']
    >>> keras.ops.convert_to_numpy(layer(np.array([0, 3]))).tolist()
    [[0.0, 1.0], [6.0, 7.0]]
    """

    # Its table is merged from frozen and trainable rows: replicated, never padded.
    row_sharded_variables = {}

    def __init__(self, input_dim, output_dim, num_trainable_rows, **kwargs):
        if kwargs.get("lora_rank") is not None:
            raise ValueError("SemiFrozenReversibleEmbedding does not support `lora_rank`.")
        kwargs.pop("lora_rank", None)
        super().__init__(input_dim, output_dim, **kwargs)
        self.num_trainable_rows = check_integer(
            "num_trainable_rows",
            num_trainable_rows,
            minimum=0,
            maximum=input_dim,
            expected=f"an integer in [0, input_dim={input_dim}]",
        )

    @classmethod
    def from_aligned_table(cls, table, coverage, trainable, **kwargs):
        """A built layer holding `table` whose trainable rows `trainable` picks.

        `"missing_only"`: the rows without a pre-trained vector, padding rows
        excluded; True: every row; False: none, and `layer.trainable` is False.
        """
        input_dim, output_dim = table.shape
        if trainable == "missing_only":
            frozen = np.union1d(coverage.pretrained_rows, coverage.padding_rows)
            trainable_rows = np.setdiff1d(np.arange(input_dim), frozen)
        else:
            trainable_rows = np.arange(input_dim if trainable else 0)
        layer = cls(input_dim, output_dim, num_trainable_rows=int(trainable_rows.size), **kwargs)
        layer.build()
        layer.assign_table(table, trainable_rows)
        layer.trainable = trainable is not False
        return layer

    def build(self, input_shape=None):
        if self.built:
            return
        if self.quantization_mode is not None:
            # Only the merged, quantised table exists (see `quantize`).
            super().build(input_shape)
            return
        # Created here rather than by `Embedding.build`, so that the table is
        # non-trainable from the start: `layer.trainable = True` re-enables
        # only variables created trainable.
        self._embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            name="embeddings",
            trainable=False,
        )
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                shape=(self.output_dim, self.input_dim),
                initializer=self.embeddings_initializer.clone(),
                name="reverse_embeddings",
                trainable=True,
            )
        self.row_slots = self.add_weight(
            shape=(self.input_dim,),
            initializer=keras.initializers.Constant(-1),
            dtype="int32",
            name="row_slots",
            trainable=False,
        )
        if self.num_trainable_rows:
            self.trainable_embeddings = self.add_weight(
                shape=(self.num_trainable_rows, self.output_dim),
                initializer=self.embeddings_initializer.clone(),
                name="trainable_embeddings",
                regularizer=self.embeddings_regularizer,
                constraint=self.embeddings_constraint,
                trainable=True,
            )
        self.built = True

    def assign_table(self, table, trainable_row_ids):
        """Set the whole `(input_dim, output_dim)` table and the rows that train.

        Args:
            table: array of shape `(input_dim, output_dim)`.
            trainable_row_ids: `num_trainable_rows` distinct row ids.
        """
        table = np.asarray(table)
        ids = np.asarray(trainable_row_ids, dtype=np.int64).reshape(-1)
        if table.shape != (self.input_dim, self.output_dim):
            raise ValueError(
                f"`table` must have shape ({self.input_dim}, {self.output_dim}). "
                f"Received: shape {table.shape}."
            )
        if (
            ids.size != self.num_trainable_rows
            or np.unique(ids).size != ids.size
            or (ids.size and (ids.min() < 0 or ids.max() >= self.input_dim))
        ):
            raise ValueError(
                f"`trainable_row_ids` must be {self.num_trainable_rows} distinct ids in "
                f"[0, {self.input_dim}). Received: {ids.tolist()[:20]} ({ids.size} ids)."
            )
        slots = np.full(self.input_dim, -1, dtype=np.int32)
        slots[ids] = np.arange(ids.size, dtype=np.int32)
        self._embeddings.assign(table.astype(self._embeddings.dtype))
        self.row_slots.assign(slots)
        if ids.size:
            self.trainable_embeddings.assign(table[ids].astype(self.trainable_embeddings.dtype))

    @property
    def trainable_row_ids(self):
        """`(num_trainable_rows,)` numpy ids of the rows that train, in slot order."""
        slots = ops.convert_to_numpy(self.row_slots)
        ids = np.flatnonzero(slots >= 0)
        return ids[np.argsort(slots[ids])]

    @property
    def embeddings(self):
        """The merged `(input_dim, output_dim)` table: frozen rows and trained rows."""
        table = super().embeddings
        if not self.num_trainable_rows or self.quantization_mode is not None:
            return table
        slots = ops.convert_to_tensor(self.row_slots)  # (input_dim,)
        trained = ops.take(
            ops.convert_to_tensor(self.trainable_embeddings), ops.maximum(slots, 0), axis=0
        )
        table = ops.convert_to_tensor(table)
        trains = in_range(slots, self.num_trainable_rows)  # frozen rows hold slot -1
        return ops.where(ops.expand_dims(trains, -1), trained, table)

    def call(self, inputs, reverse=False):
        if reverse or not self.num_trainable_rows or self.quantization_mode is not None:
            return super().call(inputs, reverse=reverse)
        # Two gathers of the ids' rows instead of merging the whole table per step.
        inputs = integer_ids("inputs", inputs)
        frozen = lookup_rows(
            ops.convert_to_tensor(self._embeddings),
            inputs,
            "inputs",
            table_rows("input_dim", self.input_dim),
        )  # (..., output_dim); zeros for out-of-range ids in compiled code.
        # (...) slot of each id; -1 for a frozen row and for an id out of range.
        slots = take_or_zeros(ops.convert_to_tensor(self.row_slots) + 1, inputs) - 1
        trained = ops.take(
            ops.convert_to_tensor(self.trainable_embeddings), ops.maximum(slots, 0), axis=0
        )
        trains = in_range(slots, self.num_trainable_rows)
        outputs = ops.where(ops.expand_dims(trains, -1), trained, frozen)
        outputs = ops.cast(outputs, self.compute_dtype)
        if self.mask_zero:
            attach_mask(outputs, ops.not_equal(inputs, 0))
        return outputs

    def get_config(self):
        config = super().get_config()
        config["num_trainable_rows"] = self.num_trainable_rows
        return config

    def quantize(self, mode=None, type_check=True, config=None):
        super().quantize(mode, type_check=type_check, config=config)
        # The merged table now holds the trained rows.
        del self.row_slots
        if self.num_trainable_rows:
            del self.trainable_embeddings

    def _table_to_quantize(self):
        return self.embeddings

    @property
    def variable_serialization_spec(self):
        spec = copy.deepcopy(super().variable_serialization_spec)
        spec[None].extend(["row_slots", "trainable_embeddings"])
        return spec


ReversibleEmbedding.missing_only_class = SemiFrozenReversibleEmbedding
