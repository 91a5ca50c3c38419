"""`MaskedLMMaskGenerator`: BERT-style masking of token ids for masked-LM training.

The masking rule is written once (`_mask_rows`) over an array namespace:
numpy for concrete inputs (lists, ragged rows, arrays, eager tensors, and
`tf.data` graphs through `tf.numpy_function`), `keras.ops` for tensors traced
in a compiled function. The paths differ only in their source of random
draws; the rest of the file turns five input kinds into padded rows and back.
"""

import functools
import numbers
import types
from fractions import Fraction
from typing import NamedTuple

import keras
import numpy as np

from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_rate
from keras_embed._validation import check_token_id_array
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
        # Ids outside the vocabulary never occur in valid inputs; int32 holds the rest.
        self._unselectable_in_vocabulary = np.array(
            [i for i in self.unselectable_token_ids if 0 <= i < self.vocabulary_size], np.int32
        )
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
            return self._call_with_keras_ops(inputs)
        outputs = self._call_in_numpy(inputs, self._generator)
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
        return self._call_in_numpy(inputs, rng)

    def _mask_rows(self, ops, rows, draws, lengths=None, slots=None):
        """The masking rule, written once for numpy and for `keras.ops`.

        Args:
            ops: the array functions to compute with: `keras.ops`, or
                `_NUMPY_OPS` (numpy under the same names).
            rows: integer ids `(batch, length)`.
            draws: the `_Draws` this masking consumes, each `(batch, length)`.
            lengths: int `(batch,)`, how long each row really is (the rest is
                padding), or `None` when every row is full.
            slots: the width `S` of the mask outputs; `length` when `None`.

        Returns:
            `token_ids` int32 `(batch, length)`, `mask_positions` and
            `mask_ids` int32 `(batch, S)`, `mask_weights` float32 `(batch, S)`
            and the number picked in each row, int32 `(batch,)`.
        """
        length = rows.shape[1]
        slots = length if slots is None else slots
        columns = ops.arange(length)[None, :]  # (1, length)
        selectable = ops.logical_not(ops.isin(rows, self._unselectable_in_vocabulary))
        if lengths is not None:
            selectable = ops.logical_and(selectable, ops.less(columns, lengths[:, None]))
        counts = ops.take(
            _selection_counts(self._selection_fraction, length, self.mask_selection_length),
            ops.sum(ops.cast(selectable, "int32"), axis=1),
        )  # (batch,)

        # Uniform without replacement: the `count` selectable tokens with the smallest keys.
        keys = ops.where(selectable, draws.sort_keys, 2.0)
        ranks = ops.argsort(ops.argsort(keys, axis=1), axis=1)
        picked = ops.less(ranks, counts[:, None])

        becomes_mask = ops.logical_and(picked, ops.less(draws.replacements, self.mask_token_rate))
        becomes_random = ops.logical_and(
            ops.logical_and(picked, ops.logical_not(becomes_mask)),
            ops.less(draws.replacements, self.mask_token_rate + self.random_token_rate),
        )
        token_ids = ops.where(becomes_mask, self.mask_token_id, rows)
        token_ids = ops.cast(ops.where(becomes_random, draws.random_tokens, token_ids), "int32")

        # The picked columns first, in increasing order (the sort keys are all distinct).
        positions = ops.argsort(ops.where(picked, columns, columns + length), axis=1)[:, :slots]
        if slots > length:
            positions = ops.pad(positions, [[0, 0], [0, slots - length]])
        weights = ops.less(ops.arange(slots)[None, :], counts[:, None])
        positions = ops.cast(ops.where(weights, positions, 0), "int32")
        # A row of length 0 has nothing to gather; its slots are all padding.
        original = ops.take_along_axis(rows, positions, axis=1) if length else positions
        mask_ids = ops.cast(ops.where(weights, original, 0), "int32")
        return token_ids, positions, mask_ids, ops.cast(weights, "float32"), counts

    def _call_in_numpy(self, inputs, generator):
        """Concrete inputs of any kind, masked in numpy with draws from `generator`."""
        rows, lengths, batched, rectangular = self._to_padded_rows(inputs)
        masked = self._mask_in_numpy(rows, lengths, generator)
        return self._format_eager_outputs(masked, lengths, batched, rectangular)

    def _mask_in_numpy(self, rows, lengths, generator):
        """The rule on numpy rows, with draws from a `numpy.random.Generator`."""
        # This order of draws fixes which masks a seed gives.
        draws = _Draws(
            generator.random(rows.shape),
            generator.random(rows.shape),
            generator.integers(0, self.vocabulary_size, rows.shape),
        )
        return self._mask_rows(_NUMPY_OPS, rows, draws, lengths, self.mask_selection_length)

    def _to_padded_rows(self, inputs):
        """Concrete inputs as zero-padded int64 rows and their lengths (`None`: all full)."""
        batched, rectangular = True, True
        if isinstance(inputs, np.ndarray) and inputs.dtype == object and inputs.ndim == 1:
            inputs = list(inputs)  # numpy's spelling of ragged rows
        if isinstance(inputs, (list, tuple)) and inputs and _is_row(inputs[0]):
            row_list = [self._check_ids(row, f"inputs[{i}]") for i, row in enumerate(inputs)]
            rectangular = len({row.shape[0] for row in row_list}) <= 1
        elif _is_tf_ragged(inputs):
            rows = inputs.to_list()
            row_list = [self._check_ids(row, f"inputs[{i}]") for i, row in enumerate(rows)]
            rectangular = False
        else:
            values = self._check_ids(inputs, "inputs", ranks=(1, 2))
            batched = values.ndim == 2
            return (values if batched else values[None]), None, batched, True
        lengths = np.array([row.shape[0] for row in row_list], dtype=np.int64)
        rows = np.zeros((len(row_list), int(lengths.max(initial=0))), dtype=np.int64)
        for index, row in enumerate(row_list):
            rows[index, : row.shape[0]] = row
        return rows, lengths, batched, rectangular

    def _check_ids(self, values, name, ranks=(1,)):
        """One sequence (or, at top level, a 2-D batch) as int64 numpy ids."""
        if keras.ops.is_tensor(values):
            array = concrete_value(values)
            if array is None:
                raise ValueError(
                    "`MaskedLMMaskGenerator` needs concrete token ids in a list of rows: it "
                    "masks those in numpy. Inside a compiled function, pass one 2-D tensor. "
                    f"Received: `{name}` of type {type(values).__name__}."
                )
            values = array
        return check_token_id_array(name, values, self.vocabulary_size, ranks)

    def _format_eager_outputs(self, masked, lengths, batched, rectangular):
        """The rule's padded numpy results in the layout of the inputs."""
        token_ids, positions, mask_ids, weights, counts = masked
        if not rectangular:
            token_ids = [row[:n] for row, n in zip(token_ids, lengths)]
        elif not batched:
            token_ids = token_ids[0]
        masks = (positions, mask_ids, weights)
        if not batched:
            # One sequence without `mask_selection_length`: one entry per pick.
            width = counts[0] if self.mask_selection_length is None else None
            masks = tuple(values[0, :width] for values in masks)
        elif self.mask_selection_length is None:
            masks = tuple([row[:n] for row, n in zip(values, counts)] for values in masks)
        return dict(zip(_OUTPUT_KEYS, (token_ids,) + masks))

    def _call_with_keras_ops(self, inputs):
        """The masking rule in `keras.ops`, for inputs traced inside a compiled model.

        Dense rows only, with `mask_selection_length` set (outputs need static
        shapes). The draws come from a `keras.random.SeedGenerator`, so they
        differ from the numpy path's, not their distribution. Out-of-vocabulary
        ids cannot be checked here.
        """
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
        rows = integer_ids("inputs", inputs if batched else inputs[None])  # (batch, length)
        shape = keras.ops.shape(rows)
        draws = _Draws(
            keras.random.uniform(shape, seed=self._seed_generator),
            keras.random.uniform(shape, seed=self._seed_generator),
            keras.random.randint(shape, 0, self.vocabulary_size, seed=self._seed_generator),
        )
        masked = self._mask_rows(keras.ops, rows, draws, slots=self.mask_selection_length)
        outputs = dict(zip(_OUTPUT_KEYS, masked))
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
            rows = self._check_ids(rows, "inputs", ranks=(2,))
            return self._mask_in_numpy(rows, lengths, self._generator)

        token_ids, positions, mask_ids, weights, counts = tf.numpy_function(
            tf.autograph.experimental.do_not_convert(mask_numpy),
            [rows, lengths],
            [tf.int32, tf.int32, tf.int32, tf.float32, tf.int32],
            stateful=True,
        )
        slots = self.mask_selection_length
        token_ids.set_shape(rows.shape)
        for values in (positions, mask_ids, weights):
            values.set_shape([rows.shape[0], slots])
        counts.set_shape(rows.shape[:1])

        if ragged:
            token_ids = tf.RaggedTensor.from_tensor(token_ids, lengths=lengths)
        elif not batched:
            token_ids = token_ids[0]
        masks = (positions, mask_ids, weights)
        if not batched:
            masks = tuple(values[0, : counts[0] if slots is None else None] for values in masks)
        elif slots is None:
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


class _Draws(NamedTuple):
    """The random numbers one masking consumes, each `(batch, length)`."""

    sort_keys: object  # uniform in [0, 1): the smallest keys are picked
    replacements: object  # uniform in [0, 1): below `mask_token_rate` -> mask, etc.
    random_tokens: object  # uniform integers in [0, vocabulary_size)


# The numpy functions the rule calls, under `keras.ops`' names and signatures.
_NUMPY_OPS = types.SimpleNamespace(
    arange=np.arange,
    argsort=np.argsort,
    cast=lambda x, dtype: np.asarray(x).astype(dtype),
    isin=np.isin,
    less=np.less,
    logical_and=np.logical_and,
    logical_not=np.logical_not,
    pad=np.pad,
    sum=np.sum,
    take=np.take,
    take_along_axis=np.take_along_axis,
    where=np.where,
)


@functools.lru_cache(maxsize=32)
def _selection_counts(fraction, length, most):
    """`min(ceil(n * fraction), most)` for every selectable count `n` in `[0, length]`, int32.

    Exact integer arithmetic: a float product can land just above an integer
    (0.3 * 10 = 3.0000000000000004) and pick one token too many, and an
    integer product in int32 tensors could overflow.
    """
    counts = [-(-n * fraction.numerator // fraction.denominator) for n in range(length + 1)]
    table = np.array([c if most is None else min(c, most) for c in counts], np.int32)
    table.flags.writeable = False
    return table


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
