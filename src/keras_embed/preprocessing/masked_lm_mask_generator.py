"""`MaskedLMMaskGenerator`: BERT-style masking of token ids for masked-LM training.

Over 400 lines because one public layer serves five input kinds (lists,
ragged rows, dense arrays, `tf.data` graph tensors, tensors traced in a
compiled model) through one numpy masking routine and its `keras.ops`
twin; half the file is its docstring and their checks.
"""

import numbers
from fractions import Fraction

import keras
import numpy as np

from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_rate
from keras_embed._validation import check_whole_numbers
from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.ops._backend import concrete_value
from keras_embed.ops._ids import integer_ids

_OUTPUT_KEYS = ("token_ids", "mask_positions", "mask_ids", "mask_weights")


@keras.saving.register_keras_serializable(package="keras_embed")
class MaskedLMMaskGenerator(keras.layers.Layer):
    """Selects tokens to predict and corrupts them, as in BERT pre-training.

    For every sequence, the layer counts the *selectable* tokens (those whose
    id is not in `unselectable_token_ids`) and picks exactly
    `min(ceil(selectable * mask_selection_rate), mask_selection_length)` of
    them, uniformly at random and without replacement. Each picked token is
    then replaced by `mask_token_id` with probability `mask_token_rate`, by a
    token drawn uniformly from `[0, vocabulary_size)` with probability
    `random_token_rate`, and left unchanged otherwise (BERT's 80/10/10 split,
    [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)). The rate is read
    as the decimal you wrote, so `0.15` of 20 selectable tokens is exactly 3.

    This is the only semantics, whatever the backend and whether or not
    TensorFlow is installed. The sampling runs in numpy on the CPU: the layer
    is a preprocessing step that belongs in the data pipeline, not inside a
    compiled model, though inside one (a traced call, `mask_selection_length`
    set) it runs the same rule in `keras.ops` with Keras' random ops. Outputs
    follow the inputs, as keras-hub's preprocessing
    layers do: numpy arrays and Python lists give numpy arrays (so the layer
    works as it is in a grain or plain-Python pipeline), eager backend tensors
    (a model called eagerly) give backend tensors, and inside a `tf.data`
    pipeline (or any other TensorFlow graph) it runs the same numpy code
    through `tf.numpy_function` and returns `tf.Tensor`s / `tf.RaggedTensor`s,
    on every Keras backend. TensorFlow is imported only when TensorFlow
    tensors arrive.

    With a `seed`, the sequence of masks drawn by successive calls is
    reproducible; without one, the layer seeds itself from numpy's global
    generator, so `keras.utils.set_random_seed` also makes it reproducible.
    In `tf.data`, reproducibility needs a deterministic call order, i.e. `map`
    without `num_parallel_calls`; grain reads with threads by default, so use
    `dataset.random_map(masker.random_map, seed=...)` there (see
    `random_map`).

    Args:
        vocabulary_size: int, the number of token ids; ids lie in
            `[0, vocabulary_size)`.
        mask_selection_rate: float in `[0, 1]`, the fraction of selectable
            tokens picked in each sequence (rounded up).
        mask_token_id: int, the id that replaces a picked token, e.g. the id of
            `"[MASK]"`. Must lie in `[0, vocabulary_size)`.
        mask_selection_length: int >= 0 or `None`. The most tokens picked in one
            sequence. When given, `mask_positions`, `mask_ids` and
            `mask_weights` are padded with zeros to this length, so they are
            dense; when `None`, they are ragged for batched inputs (one entry
            per picked token). Defaults to `None`.
        unselectable_token_ids: list of ints, ids that are never picked, e.g.
            padding, `"[CLS]"` and `"[SEP]"`. Defaults to `[0]` (padding).
        mask_token_rate: float in `[0, 1]`, how often a picked token becomes
            `mask_token_id`. Defaults to `0.8`.
        random_token_rate: float in `[0, 1]`, how often a picked token becomes a
            uniformly random id. `mask_token_rate + random_token_rate` must not
            exceed 1; the rest of the picked tokens keep their id. Defaults to
            `0.1`.
        seed: int >= 0 or `None`, seeds the layer's random generator.
        **kwargs: standard `keras.layers.Layer` arguments such as `name`.

    Call arguments:
        inputs: integer token ids, either one sequence (a 1-D array, tensor or
            list) or a batch (a 2-D array or tensor, a list of lists, or a
            `tf.RaggedTensor`; rows may differ in length).

    Returns:
        A dict with four entries. `S` below is `mask_selection_length` when it
        is given.
        - `"token_ids"`: int32, the inputs with the picked tokens replaced;
            shape `(batch, length)` or `(length,)`, or, for rows of different
            lengths, a list of 1-D int32 numpy arrays (a `tf.RaggedTensor`
            inside `tf.data`).
        - `"mask_positions"`: int32, `(batch, S)` or `(S,)`, the positions of
            the picked tokens in increasing order, zero-padded.
        - `"mask_ids"`: int32, same shape, the original ids at those positions,
            zero-padded.
        - `"mask_weights"`: float32, same shape, 1 for a picked token, 0 for
            padding.
        With `mask_selection_length=None`, these three are, for batched inputs,
        lists of 1-D numpy arrays (a `tf.RaggedTensor` inside `tf.data`), and
        for one sequence 1-D tensors as long as the number of picked tokens.
        Dense outputs are numpy arrays for numpy or list inputs, backend
        tensors for backend tensors, `tf.Tensor`s inside `tf.data`.

    Input shape:
        `(batch, length)` or `(length,)`.

    Output shape:
        `token_ids`: as the input; the others `(batch, S)` or `(S,)`.

    Example:

    >>> import keras
    >>> from keras_embed.layers import MaskedLMMaskGenerator
    >>> pad, cls, sep, mask = 0, 1, 2, 3
    >>> masker = MaskedLMMaskGenerator(
    ...     vocabulary_size=20,
    ...     mask_selection_rate=0.25,
    ...     mask_token_id=mask,
    ...     mask_selection_length=3,
    ...     unselectable_token_ids=[pad, cls, sep],
    ...     seed=7,
    ... )
    >>> batch = [[cls, 11, 12, 13, 14, 15, 16, 17, 18, sep],
    ...          [cls, 11, 12, 13, 14, sep, pad, pad, pad, pad]]
    >>> outputs = masker(batch)
    >>> # ceil(8 * 0.25) = 2 and ceil(4 * 0.25) = 1 tokens are picked.
    >>> outputs["mask_weights"].tolist()
    [[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        vocabulary_size,
        mask_selection_rate,
        mask_token_id,
        mask_selection_length=None,
        unselectable_token_ids=[0],  # noqa: B006 (the keras-hub signature; never mutated)
        mask_token_rate=0.8,
        random_token_rate=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.mask_selection_rate = check_rate("mask_selection_rate", mask_selection_rate)
        self.mask_token_id = check_integer(
            "mask_token_id",
            mask_token_id,
            minimum=0,
            maximum=self.vocabulary_size - 1,
            expected=f"an integer id in the vocabulary [0, {self.vocabulary_size})",
        )
        self.mask_selection_length = check_integer(
            "mask_selection_length", mask_selection_length, minimum=0, allow_none=True
        )
        self.unselectable_token_ids = _check_id_list(unselectable_token_ids)
        self.mask_token_rate = check_rate("mask_token_rate", mask_token_rate)
        self.random_token_rate = check_rate("random_token_rate", random_token_rate)
        if _exact(self.mask_token_rate) + _exact(self.random_token_rate) > 1:
            raise ValueError(
                "`mask_token_rate + random_token_rate` must not exceed 1. "
                f"Received: mask_token_rate={self.mask_token_rate}, "
                f"random_token_rate={self.random_token_rate}."
            )
        self.seed = check_integer("seed", seed, minimum=0, allow_none=True)
        # Without a seed, draw one from numpy's global generator so that
        # `keras.utils.set_random_seed` makes the layer reproducible too.
        generator_seed = seed if seed is not None else np.random.randint(0, 2**31 - 1)
        self._generator = np.random.default_rng(generator_seed)
        # Draws for traced calls (a compiled model), where numpy cannot run.
        self._seed_generator = keras.random.SeedGenerator(generator_seed)
        self._selection_fraction = _exact(self.mask_selection_rate)
        self.built = True

    def __call__(self, inputs, training=None):
        # Keras' generic `__call__` would cast and trace the inputs; this layer
        # takes lists and ragged rows as they are and only defers to it for
        # symbolic `keras.Input`s. `training` (passed by functional models)
        # changes nothing: masking is the same in training and inference.
        del training
        if isinstance(inputs, keras.KerasTensor):
            return super().__call__(inputs)
        return self.call(inputs)

    def call(self, inputs):
        if _is_tf_graph_tensor(inputs):
            return self._call_in_tf_graph(inputs)
        if _is_traced(inputs):
            return self._call_traced(inputs)
        rows, lengths, batched, rectangular = self._to_padded_rows(inputs)
        masked = self._mask_padded_rows(rows, lengths)
        outputs = self._format_eager_outputs(masked, lengths, batched, rectangular)
        if _is_host_value(inputs):
            return outputs
        return {
            key: value if isinstance(value, list) else keras.ops.convert_to_tensor(value)
            for key, value in outputs.items()
        }

    def random_map(self, inputs, rng):
        """Mask `inputs` with draws from `rng`: the form of grain's `random_map`.

        grain reads with threads by default, so calls through
        `dataset.map(masker)` reach the layer in any order and take their
        draws from its one generator in that order: each mask is right, but
        which sequence gets which mask can change from run to run.
        `dataset.random_map(masker.random_map, seed=...)` lets grain hand every
        element its own generator, derived from the seed and the element's
        index, so the masks are reproducible however grain schedules the work.

        Args:
            inputs: numpy ids (or lists), batched or not, as for a call.
            rng: a `numpy.random.Generator` (grain passes one per element).

        Returns:
            The outputs of a call, in numpy.
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError(
                "`rng` must be a numpy.random.Generator (grain's `random_map` passes one). "
                f"Received: rng={describe(rng)}."
            )
        if not _is_host_value(inputs):
            raise ValueError(
                "`random_map` masks numpy arrays or lists (a grain pipeline's elements); call "
                f"the layer on tensors instead. Received: inputs of type {type(inputs).__name__}."
            )
        rows, lengths, batched, rectangular = self._to_padded_rows(inputs)
        masked = self._mask_padded_rows(rows, lengths, rng)
        return self._format_eager_outputs(masked, lengths, batched, rectangular)

    def _mask_padded_rows(self, rows, lengths, generator=None):
        """The masking itself, in numpy, on zero-padded rows.

        Args:
            rows: int64 `(batch, length)`, each row valid up to its length.
            lengths: int64 `(batch,)`.
            generator: the `numpy.random.Generator` to draw from; the
                layer's own when `None`.

        Returns:
            `token_ids` `(batch, length)`, `mask_positions`, `mask_ids`
            `(batch, S)` int32, `mask_weights` `(batch, S)` float32 and the
            number picked per row `(batch,)` int64, where `S` is
            `mask_selection_length` or, when it is `None`, the largest count.
        """
        batch_size, length = rows.shape
        columns = np.arange(length)
        is_token = columns[None, :] < lengths[:, None]
        selectable = is_token & ~np.isin(rows, self.unselectable_token_ids)

        selectable_counts = selectable.sum(axis=1)
        fraction = self._selection_fraction
        # Exact integer ceil(count * rate): a float product can land just above
        # an integer (0.3 * 10 = 3.0000000000000004) and pick one token too many.
        counts = np.array(
            [-(-int(n) * fraction.numerator // fraction.denominator) for n in selectable_counts],
            dtype=np.int64,
        )
        if self.mask_selection_length is not None:
            counts = np.minimum(counts, self.mask_selection_length)

        # Uniform without replacement: sort random keys, unselectable ones last,
        # and pick the first `count` of each row.
        generator = self._generator if generator is None else generator
        sort_keys = generator.random((batch_size, length))
        sort_keys[~selectable] = 2.0
        order = np.argsort(sort_keys, axis=1, kind="stable")
        picked = np.zeros((batch_size, length), dtype=bool)
        np.put_along_axis(picked, order, columns[None, :] < counts[:, None], axis=1)

        replacement_draws = generator.random((batch_size, length))
        random_tokens = generator.integers(0, self.vocabulary_size, (batch_size, length))
        becomes_mask = picked & (replacement_draws < self.mask_token_rate)
        becomes_random = (
            picked
            & ~becomes_mask
            & (replacement_draws < self.mask_token_rate + self.random_token_rate)
        )
        token_ids = np.where(becomes_mask, self.mask_token_id, rows)
        token_ids = np.where(becomes_random, random_tokens, token_ids).astype(np.int32)

        if self.mask_selection_length is not None:
            slots = self.mask_selection_length
        else:
            slots = int(counts.max()) if batch_size else 0
        # A stable sort of "not picked" lists the picked positions first, ascending.
        picked_first = np.argsort(~picked, axis=1, kind="stable")[:, : min(slots, length)]
        positions = np.zeros((batch_size, slots), dtype=np.int64)
        positions[:, : picked_first.shape[1]] = picked_first
        weights = np.arange(slots)[None, :] < counts[:, None]
        positions = np.where(weights, positions, 0)
        mask_ids = np.where(weights, np.take_along_axis(rows, positions, axis=1), 0)
        return (
            token_ids,
            positions.astype(np.int32),
            mask_ids.astype(np.int32),
            weights.astype(np.float32),
            counts,
        )

    def _to_padded_rows(self, inputs):
        """Concrete inputs as zero-padded int64 rows plus their lengths."""
        batched, rectangular = True, True
        if isinstance(inputs, np.ndarray) and inputs.dtype == object and inputs.ndim == 1:
            inputs = list(inputs)  # numpy's spelling of ragged rows
        if isinstance(inputs, (list, tuple)) and inputs and _is_row(inputs[0]):
            row_list = [self._check_ids(row, index) for index, row in enumerate(inputs)]
            rectangular = len({row.shape[0] for row in row_list}) <= 1
        elif _is_tf_ragged(inputs):
            row_list = [self._check_ids(row, index) for index, row in enumerate(inputs.to_list())]
            rectangular = False
        else:
            values = self._check_ids(inputs, None, max_rank=2)
            batched = values.ndim == 2
            row_list = list(values) if batched else [values]
            if batched and not row_list:
                return np.zeros(values.shape, np.int64), np.zeros((0,), np.int64), True, True
        lengths = np.array([row.shape[0] for row in row_list], dtype=np.int64)
        rows = np.zeros((len(row_list), int(lengths.max(initial=0))), dtype=np.int64)
        for index, row in enumerate(row_list):
            rows[index, : row.shape[0]] = row
        return rows, lengths, batched, rectangular

    def _check_ids(self, values, row_index, max_rank=1):
        """One sequence (or, at top level, a 2-D batch) as int64 numpy ids."""
        where = "`inputs`" if row_index is None else f"Row {row_index} of `inputs`"
        array = concrete_value(values)
        if array is None:
            raise ValueError(
                "`MaskedLMMaskGenerator` needs concrete token ids: it runs in numpy "
                "in the data pipeline (eagerly or inside `tf.data`), not inside a "
                f"compiled function such as `jax.jit` or `torch.compile`. "
                f"Received: inputs of type {type(values).__name__}."
            )
        if array.dtype == object or not 1 <= array.ndim <= max_rank:
            expected = "a 1-D sequence" if max_rank == 1 else "a 1-D sequence or a 2-D batch"
            raise ValueError(
                f"{where} must be {expected} of integer token ids. "
                f"Received: an array of shape {array.shape} and dtype {array.dtype}."
            )
        if array.size == 0:
            return array.astype(np.int64)
        if np.issubdtype(array.dtype, np.floating):
            # Whole-number floats are ids, as for the embedding layers.
            check_whole_numbers("inputs" if row_index is None else f"inputs[{row_index}]", array)
            array = array.astype(np.int64)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"{where} must hold integer token ids. Received dtype {array.dtype}; "
                "cast the ids first, e.g. `np.asarray(ids, 'int32')`."
            )
        out_of_range = (array < 0) | (array >= self.vocabulary_size)
        if out_of_range.any():
            index = tuple(int(i) for i in np.argwhere(out_of_range)[0])
            raise ValueError(
                f"{where} holds the id {int(array[index])} at index {index}, outside "
                f"the vocabulary [0, {self.vocabulary_size})."
            )
        return array.astype(np.int64)

    def _format_eager_outputs(self, masked, lengths, batched, rectangular):
        token_ids, positions, mask_ids, weights, counts = masked
        outputs = {}
        if rectangular:
            outputs["token_ids"] = token_ids if batched else token_ids[0]
        else:
            outputs["token_ids"] = [row[:n] for row, n in zip(token_ids, lengths)]
        for key, values in zip(_OUTPUT_KEYS[1:], (positions, mask_ids, weights)):
            if self.mask_selection_length is not None or not batched:
                outputs[key] = values if batched else values[0]
            else:
                outputs[key] = [row[:n] for row, n in zip(values, counts)]
        return outputs

    def _call_traced(self, inputs):
        """The same rule in `keras.ops`, for inputs traced inside a compiled model.

        Dense rows only, with `mask_selection_length` set (outputs need static
        shapes). The draws come from a `keras.random.SeedGenerator`, so they
        differ from the numpy path's, not their distribution. Out-of-vocabulary
        ids cannot be checked here.
        """
        ops = keras.ops
        if self.mask_selection_length is None:
            raise ValueError(
                "`MaskedLMMaskGenerator` inside a compiled function needs "
                "`mask_selection_length` (outputs must have static shapes). Set it, "
                "or mask in the data pipeline, where any input works."
            )
        if len(inputs.shape) not in (1, 2):
            raise ValueError(
                "`inputs` must be a 1-D sequence or a 2-D batch of integer token ids. "
                f"Received: shape {tuple(inputs.shape)}."
            )
        batched = len(inputs.shape) == 2
        rows = integer_ids("inputs", inputs if batched else inputs[None])  # (B, L)
        length = rows.shape[1]
        slots = self.mask_selection_length
        selectable = ops.ones_like(rows, dtype="bool")
        for token_id in self.unselectable_token_ids:
            selectable = ops.logical_and(selectable, ops.not_equal(rows, token_id))
        # Exact integer ceil(count * rate), as on the numpy path.
        numerator, denominator = self._selection_fraction.as_integer_ratio()
        selectable_counts = ops.sum(ops.cast(selectable, "int32"), axis=1)
        counts = (selectable_counts * numerator + denominator - 1) // denominator
        counts = ops.minimum(counts, slots)  # (B,)

        # Uniform without replacement: the `count` smallest random keys of the selectable.
        keys = keras.random.uniform(ops.shape(rows), seed=self._seed_generator)
        keys = ops.where(selectable, keys, 2.0)
        ranks = ops.argsort(ops.argsort(keys, axis=1), axis=1)
        picked = ops.less(ranks, counts[:, None])

        draws = keras.random.uniform(ops.shape(rows), seed=self._seed_generator)
        random_tokens = keras.random.randint(
            ops.shape(rows), 0, self.vocabulary_size, seed=self._seed_generator, dtype="int32"
        )
        becomes_mask = ops.logical_and(picked, ops.less(draws, self.mask_token_rate))
        becomes_random = ops.logical_and(
            ops.logical_and(picked, ops.logical_not(becomes_mask)),
            ops.less(draws, self.mask_token_rate + self.random_token_rate),
        )
        token_ids = ops.where(becomes_mask, self.mask_token_id, ops.cast(rows, "int32"))
        token_ids = ops.where(becomes_random, random_tokens, token_ids)

        # The picked positions in increasing order: picked columns score highest,
        # the leftmost first; unpicked ones fill the remaining slots.
        columns = ops.arange(length, dtype="int32")[None, :]
        scores = ops.where(picked, length - columns, -columns)
        taken = min(slots, length)
        _, positions = ops.top_k(scores, k=taken)
        if taken < slots:
            positions = ops.pad(positions, [[0, 0], [0, slots - taken]])
        weights = ops.less(ops.arange(slots, dtype="int32")[None, :], counts[:, None])
        positions = ops.where(weights, ops.cast(positions, "int32"), 0)
        mask_ids = ops.where(weights, ops.take_along_axis(ops.cast(rows, "int32"), positions, axis=1), 0)
        outputs = {
            "token_ids": token_ids,
            "mask_positions": positions,
            "mask_ids": mask_ids,
            "mask_weights": ops.cast(weights, "float32"),
        }
        return outputs if batched else {key: value[0] for key, value in outputs.items()}

    def _call_in_tf_graph(self, inputs):
        import tensorflow as tf

        ragged = isinstance(inputs, tf.RaggedTensor)
        rank = inputs.shape.rank
        if rank not in (1, 2) or (ragged and rank != 2):
            raise ValueError(
                "`inputs` must be a 1-D sequence or a 2-D batch of integer token "
                f"ids. Received: a {type(inputs).__name__} of shape {inputs.shape}."
            )
        if not (inputs.dtype.is_integer or inputs.dtype.is_floating):
            raise ValueError(
                f"`inputs` must hold integer token ids. Received dtype {inputs.dtype.name}; "
                "cast the ids first, e.g. `tf.cast(ids, 'int32')`."
            )
        batched = rank == 2
        if ragged:
            rows, lengths = inputs.to_tensor(), inputs.row_lengths()
        else:
            rows = inputs if batched else inputs[tf.newaxis]
            lengths = tf.fill(tf.shape(rows)[:1], tf.shape(rows, out_type=tf.int64)[1])

        def mask_numpy(rows, lengths):
            # Padding is 0, always in range, so checking the padded rows is exact.
            rows = self._check_ids(rows, None, max_rank=2)
            return self._mask_padded_rows(rows, lengths.astype(np.int64))

        token_ids, positions, mask_ids, weights, counts = tf.numpy_function(
            tf.autograph.experimental.do_not_convert(mask_numpy),
            [rows, lengths],
            [tf.int32, tf.int32, tf.int32, tf.float32, tf.int64],
            stateful=True,
        )
        token_ids.set_shape(rows.shape)
        for values in (positions, mask_ids, weights):
            values.set_shape([rows.shape[0], self.mask_selection_length])
        counts.set_shape(rows.shape[:1])

        if ragged:
            token_ids = tf.RaggedTensor.from_tensor(token_ids, lengths=lengths)
        elif not batched:
            token_ids = token_ids[0]
        masks = (positions, mask_ids, weights)
        if not batched:
            masks = tuple(values[0] for values in masks)
        elif self.mask_selection_length is None:
            masks = tuple(tf.RaggedTensor.from_tensor(values, lengths=counts) for values in masks)
        return dict(zip(_OUTPUT_KEYS, (token_ids,) + masks))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        mask_shape = input_shape[:-1] + (self.mask_selection_length,)
        return {
            "token_ids": input_shape,
            "mask_positions": mask_shape,
            "mask_ids": mask_shape,
            "mask_weights": mask_shape,
        }

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape(inputs.shape)
        dtypes = {"token_ids": "int32", "mask_positions": "int32", "mask_ids": "int32"}
        return {
            key: keras.KerasTensor(shape, dtype=dtypes.get(key, "float32"))
            for key, shape in shapes.items()
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "mask_selection_rate": self.mask_selection_rate,
                "mask_token_id": self.mask_token_id,
                "mask_selection_length": self.mask_selection_length,
                "unselectable_token_ids": list(self.unselectable_token_ids),
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
                "seed": self.seed,
            }
        )
        return config


def _exact(rate):
    """A rate as the exact decimal the user wrote (0.1 -> 1/10, not 0.1000000000000000055...)."""
    return Fraction(repr(float(rate)))




def _check_id_list(unselectable_token_ids):
    ids = unselectable_token_ids
    if isinstance(ids, np.ndarray):
        ids = ids.tolist()
    if not isinstance(ids, (list, tuple)) or not all(is_integer(i) for i in ids):
        raise ValueError(
            "`unselectable_token_ids` must be a list of integer ids, e.g. [0]. "
            f"Received: unselectable_token_ids={describe(unselectable_token_ids)}."
        )
    return [int(i) for i in ids]


def _is_host_value(value):
    """numpy arrays, scalars and (nested) Python lists: the inputs answered in numpy."""
    if isinstance(value, (np.ndarray, np.generic, numbers.Number)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_host_value(item) for item in value)
    return False


def _is_traced(value):
    """A JAX tracer or a tensor inside `torch.compile`: values unknown, not TensorFlow."""
    if isinstance(value, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        return False
    return keras.ops.is_tensor(value) and concrete_value(value) is None


def _is_row(value):
    """Whether a list element is itself a sequence, making the list a batch."""
    if isinstance(value, (list, tuple)):
        return True
    return hasattr(value, "shape") and len(value.shape) >= 1


def _is_tf_ragged(value):
    return type(value).__name__ == "RaggedTensor" and type(value).__module__.startswith(
        "tensorflow"
    )


def _is_tf_graph_tensor(value):
    """A TensorFlow tensor whose values are unknown: a `tf.data` map or `tf.function`."""
    if not type(value).__module__.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return not tf.executing_eagerly() and isinstance(value, (tf.Tensor, tf.RaggedTensor))
