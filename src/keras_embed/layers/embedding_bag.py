import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_choice
from keras_embed.layers.embedding import Embedding
from keras_embed.ops.bags import COMBINERS
from keras_embed.ops.bags import combine_flat
from keras_embed.ops.bags import combine_padded
from keras_embed.ops._backend import concrete_value
from keras_embed.ops.bags import offsets_to_bag_ids
from keras_embed.ops._ids import check_numbers
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import in_range


def _is_ragged(x):
    return type(x).__name__ == "RaggedTensor"


def _check_offsets(offsets, num_ids, include_last_offset):
    values = concrete_value(offsets)
    if values is None:
        return
    values = values.reshape(-1)
    if include_last_offset and values.size == 0:
        raise ValueError(
            "`offsets` needs at least one entry with include_last_offset=True "
            "(the end of the last bag). Received: an empty tensor."
        )
    if values.size and values[0] != 0:
        raise ValueError(
            f"`offsets` must start at 0 (the first bag starts at the first id). "
            f"Received: offsets[0]={values[0]}."
        )
    steps = np.diff(values)
    if (steps < 0).any():
        where = int(np.argmax(steps < 0))
        raise ValueError(
            "`offsets` must be non-decreasing. Received: "
            f"offsets[{where}]={values[where]} > offsets[{where + 1}]={values[where + 1]}."
        )
    if values.size and values[-1] > num_ids:
        raise ValueError(
            f"`offsets` must not point past the end of the {num_ids} ids. "
            f"Received: offsets[-1]={values[-1]}."
        )


@keras.saving.register_keras_serializable(package="keras_embed")
class EmbeddingBag(Embedding):
    """Sums, averages or maxes the embeddings of each bag of ids (torch's `nn.EmbeddingBag`).

    A bag is a variable-size set of ids (the items a user clicked, the words
    of a sentence, a multi-hot feature); the layer looks their rows up in an
    `(input_dim, output_dim)` table named `embeddings` and reduces them to one
    `(output_dim,)` vector per bag with `combiner`:

    - `"sum"`: `sum_p w_p * row_p`;
    - `"mean"`: `sum_p w_p * row_p / sum_p w_p`;
    - `"sqrtn"`: `sum_p w_p * row_p / sqrt(sum_p w_p**2)`;
    - `"max"`: the elementwise maximum of the rows.

    `w_p` is `per_sample_weights[p]`, or 1 without them. torch allows
    `per_sample_weights` only with `"sum"`; here they also weight `"mean"`
    and `"sqrtn"` as TF's `safe_embedding_lookup_sparse` does (with unit
    weights every combiner equals torch's). They are refused with `"max"`.

    Bags arrive in one of three forms:

    - 2-D padded ids `(batch, length)`: one bag per row. Positions holding
      `padding_idx`, id 0 when `mask_zero=True`, or masked by a Keras mask
      arriving with the ids, are left out of the bag (and of its count).
    - 1-D ids `(n,)` with `offsets` (torch's form): bag `b` holds
      `ids[offsets[b]:offsets[b + 1]]`, the last bag running to the end.
      With `include_last_offset=True`, `offsets` has one more entry, closing
      the last bag; ids after it belong to no bag (torch still counts them in
      the last bag's mean). Positions holding `padding_idx` are left out.
    - a `tf.RaggedTensor` `(batch, None)` of ids, on TensorFlow.

    A bag with nothing left in it (or whose weights sum to 0 for `"mean"`)
    gives zeros. Ids outside the table and bad `offsets` (not starting at 0,
    decreasing, past the end) raise a `ValueError` when their values are
    known; inside compiled functions such ids are left out of their bag and
    offsets are taken in sorted order, those past the end giving empty bags. The table arguments (`padding_idx`, `max_norm`,
    `norm_type`, `scale_grad_by_freq`, quantization, LoRA) behave as in
    `keras_embed.layers.Embedding`, which this layer extends; the output
    carries no mask.

    Args:
        input_dim: int. Number of rows (largest id + 1).
        output_dim: int. Size of each embedding vector.
        combiner: `"sum"`, `"mean"` (default), `"max"` or `"sqrtn"`.
        padding_idx: int or `None`. Ids left out of their bag; that row is
            zero and never trained. Negative values count from the end.
        max_norm: positive float or `None`, as in `Embedding`.
        norm_type: positive float, as in `Embedding`. Defaults to 2.
        scale_grad_by_freq: bool, as in `Embedding`. Defaults to `False`.
        include_last_offset: bool. Whether `offsets` ends with the end of the
            last bag (torch's CSR form). Defaults to `False`.
        **kwargs: other `Embedding` arguments (`embeddings_initializer`,
            `mask_zero`, `name`, `dtype`, ...).

    Call arguments:
        inputs: integer ids, `(batch, length)`, or `(n,)` with `offsets`, or a
            `tf.RaggedTensor`.
        offsets: integer tensor `(bags,)` (`(bags + 1,)` with
            `include_last_offset`) for 1-D `inputs`, else `None`.
        per_sample_weights: float tensor of the shape of `inputs` (a ragged
            tensor of the same row lengths for ragged `inputs`), or `None`.

    Input shape:
        `(batch, length)`, or `(n,)` with `offsets`.

    Output shape:
        `(batch, output_dim)`, or `(bags, output_dim)` with `offsets`.

    Returns:
        One vector per bag, in the compute dtype.

    Example:

    >>> import numpy as np
    >>> bags = EmbeddingBag(100, 8, combiner="mean", padding_idx=0)
    >>> tuple(bags(np.array([[4, 7, 0], [9, 0, 0]])).shape)
    (2, 8)
    >>> ids, offsets = np.array([4, 7, 9]), np.array([0, 2])
    >>> tuple(bags(ids, offsets=offsets).shape)
    (2, 8)
    """

    checked_call_arguments = {"inputs": "ids", "offsets": "ids", "per_sample_weights": "numbers"}

    def __init__(
        self,
        input_dim,
        output_dim,
        combiner="mean",
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        include_last_offset=False,
        **kwargs,
    ):
        self.combiner = check_choice("combiner", combiner, COMBINERS)
        self.include_last_offset = check_bool("include_last_offset", include_last_offset)
        super().__init__(
            input_dim,
            output_dim,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            **kwargs,
        )
        # Consumes an incoming mask (masked ids leave their bag); emits none.
        self.supports_masking = True

    def call(self, inputs, offsets=None, per_sample_weights=None, mask=None):
        if _is_ragged(inputs):
            return self._call_ragged(inputs, offsets, per_sample_weights)
        ids = integer_ids("inputs", inputs)
        self._check_weights(ids, per_sample_weights)
        if offsets is None:
            if len(ids.shape) != 2:
                raise ValueError(
                    "`inputs` must be 2-D padded ids (batch, length), or 1-D ids with "
                    f"`offsets`. Received: inputs of shape {tuple(ids.shape)} and no offsets."
                )
            valid = self._kept(ids, mask)
            rows = self.lookup(ids)
            bags = combine_padded(rows, valid, self.combiner, per_sample_weights)
        else:
            if len(ids.shape) != 1:
                raise ValueError(
                    "With `offsets`, `inputs` must be 1-D ids (torch's form). "
                    f"Received: inputs of shape {tuple(ids.shape)}."
                )
            bags = self._combine_offsets(
                ids, integer_ids("offsets", offsets), per_sample_weights, mask, self.include_last_offset
            )
        return self._scale_and_cast(bags)

    def _call_ragged(self, inputs, offsets, per_sample_weights):
        if offsets is not None:
            raise ValueError(
                "`offsets` must be None when `inputs` is a tf.RaggedTensor (its row "
                "splits are the offsets)."
            )
        if len(inputs.shape) != 2:
            raise ValueError(
                "A ragged `inputs` must have shape (batch, None). Received: "
                f"shape {tuple(inputs.shape)}."
            )
        if per_sample_weights is not None:
            if not _is_ragged(per_sample_weights):
                raise ValueError(
                    "`per_sample_weights` must be a tf.RaggedTensor like the ragged "
                    f"`inputs`. Received: {type(per_sample_weights).__name__}."
                )
            per_sample_weights = per_sample_weights.values
        ids = integer_ids("inputs", inputs.values)
        self._check_weights(ids, per_sample_weights)
        # Row splits hold the end of the last row: torch's include_last_offset form.
        bags = self._combine_offsets(ids, inputs.row_splits, per_sample_weights, None, True)
        return self._scale_and_cast(bags)

    def _combine_offsets(self, ids, offsets, per_sample_weights, mask, include_last_offset):
        if len(offsets.shape) != 1:
            raise ValueError(
                f"`offsets` must be 1-D. Received: offsets of shape {tuple(offsets.shape)}."
            )
        num_ids = ids.shape[0]
        _check_offsets(offsets, num_ids, include_last_offset)
        if offsets.shape[0] == int(include_last_offset):
            # No bags: torch's (0, d), which the segment reductions cannot give on every backend.
            return ops.zeros((0, self.output_dim))
        bag_ids, in_bag, num_bags = offsets_to_bag_ids(offsets, num_ids, include_last_offset)
        valid = ops.logical_and(in_bag, self._kept(ids, mask))
        rows = self.lookup(ids)
        return combine_flat(rows, valid, bag_ids, num_bags, self.combiner, per_sample_weights)

    def _kept(self, ids, mask):
        """Positions that take part in their bag: ids in the table, not padding, not masked."""
        kept = in_range(ids, self.input_dim)
        if self.padding_idx is not None:
            kept = ops.logical_and(kept, ops.not_equal(ids, self.padding_idx))
        if self.mask_zero:
            kept = ops.logical_and(kept, ops.not_equal(ids, 0))
        if mask is not None:
            kept = ops.logical_and(kept, ops.cast(mask, "bool"))
        return kept

    def _check_weights(self, ids, per_sample_weights):
        if per_sample_weights is None:
            return
        check_numbers("per_sample_weights", per_sample_weights)
        if self.combiner == "max":
            raise ValueError(
                "`per_sample_weights` cannot weight combiner='max'; use 'sum', 'mean' "
                "or 'sqrtn', or drop the weights."
            )
        if tuple(per_sample_weights.shape) != tuple(ids.shape):
            raise ValueError(
                "`per_sample_weights` must have the shape of `inputs`, "
                f"{tuple(ids.shape)}. Received: shape {tuple(per_sample_weights.shape)}."
            )

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape, offsets_shape=None):
        if offsets_shape is None:
            return (input_shape[0], self.output_dim)
        bags = offsets_shape[0]
        if bags is not None and self.include_last_offset:
            bags -= 1
        return (bags, self.output_dim)

    def compute_output_spec(self, inputs, offsets=None, per_sample_weights=None, mask=None):
        offsets_shape = None if offsets is None else tuple(offsets.shape)
        shape = self.compute_output_shape(tuple(inputs.shape), offsets_shape)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"combiner": self.combiner, "include_last_offset": self.include_last_offset}
        )
        return config
