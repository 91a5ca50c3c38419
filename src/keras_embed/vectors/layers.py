"""Pre-trained vectors into embedding layers, and layers back into `Vectors`.

`embedding_from_vectors` (what `ReversibleEmbedding.from_vectors` calls)
aligns a vector set to a vocabulary, initialises the rows it lacks and returns
the layer with a `Coverage` report. `from_layer` turns a layer's table back
into `Vectors` for similarity queries.

Semi-freezing (`trainable="missing_only"`) uses `SemiFrozenReversibleEmbedding`,
which splits the table in two variables: the full table, non-trainable, and
the rows without a pre-trained vector, trainable. Optimisers, weight decay,
momentum, regularisers and constraints only ever see the second variable, so
the pre-trained rows stay bit-identical through `fit` on every backend. A
gradient mask would not: decoupled weight decay (AdamW) and constraints
change a variable whatever its gradient.
"""

import copy
import dataclasses
import numbers
import os

import keras
import numpy as np
from keras import ops

from keras_embed._keras_utils import clone_initializer
from keras_embed._validation import check_integer_dtype, describe
from keras_embed.layers.reversible_embedding import ReversibleEmbedding
from keras_embed.ops.lookup import lookup_rows
from keras_embed.vectors.vectors import Vectors

_GATHER_ROWS = 1 << 16  # Rows copied at once from a (possibly memory-mapped) matrix.


# Initialisers for rows the vectors lack, keyed by name:
# fn(tokens, vectors, rng) -> (len(tokens), dim) float32 values.


def _matched_normal(tokens, vectors, rng):
    """Normal draws with the per-dimension mean and std of the pre-trained vectors."""
    mean, std = column_statistics(vectors.matrix)
    return (rng.normal(size=(len(tokens), vectors.dim)) * std + mean).astype(np.float32)


def _zeros(tokens, vectors, rng):
    return np.zeros((len(tokens), vectors.dim), np.float32)


def _uniform(tokens, vectors, rng):
    """Keras' default `Embedding` initialiser: uniform in [-0.05, 0.05]."""
    return rng.uniform(-0.05, 0.05, size=(len(tokens), vectors.dim)).astype(np.float32)


def _subwords(tokens, vectors, rng):
    """fastText vectors built from character n-grams (Bojanowski et al., 2017)."""
    if vectors.subwords is None:
        raise ValueError(
            "`missing='subwords'` needs vectors loaded from a fastText .bin model "
            "(they carry the n-gram rows); these vectors have none."
        )
    return vectors.subwords.vectors(list(tokens))


MISSING_INITIALIZERS = {
    "matched_normal": _matched_normal,
    "zeros": _zeros,
    "uniform": _uniform,
    "subwords": _subwords,
}


def column_statistics(matrix):
    """Per-dimension mean and (population) standard deviation, in float64."""
    total = np.zeros(matrix.shape[1])
    squares = np.zeros(matrix.shape[1])
    for start in range(0, matrix.shape[0], _GATHER_ROWS):
        block = np.asarray(matrix[start : start + _GATHER_ROWS], dtype=np.float64)
        total += block.sum(axis=0)
        squares += np.square(block).sum(axis=0)
    count = max(matrix.shape[0], 1)
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))


@dataclasses.dataclass
class Coverage:
    """How well pre-trained vectors covered a vocabulary.

    Attributes:
        total: rows of the embedding table.
        reserved: padding / mask / OOV rows, which are not looked up.
        found: tokens found as they are.
        case_folded: tokens found only after case folding (`str.casefold`).
        missing: tokens not found, initialised with `missing_initializer`.
        missing_initializer: the `missing` strategy used.
        missing_tokens: the tokens that were not found, in row order.
        pretrained_rows: `(found + case_folded,)` row ids holding a
            pre-trained vector.
        padding_rows: row ids kept at zero (padding / mask).
    """

    total: int
    reserved: int
    found: int
    case_folded: int
    missing: int
    missing_initializer: str
    missing_tokens: list
    pretrained_rows: np.ndarray
    padding_rows: list

    @property
    def ratio(self):
        """Share of looked-up tokens that got a pre-trained vector."""
        looked_up = self.total - self.reserved
        return (self.found + self.case_folded) / looked_up if looked_up else 0.0

    def __str__(self):
        text = (
            f"{self.found + self.case_folded} of {self.total - self.reserved} tokens found "
            f"({100 * self.ratio:.1f}%): {self.found} exact, {self.case_folded} case-folded; "
            f"{self.missing} missing, initialised with {self.missing_initializer!r}"
        )
        if self.reserved:
            text += f"; {self.reserved} reserved rows"
        return text


def _vocabulary_tokens(vocabulary, vectors):
    """`(tokens, padding_rows, oov_rows)` for a `vocabulary` argument."""
    if vocabulary is None:
        return list(vectors.words), [], []
    if isinstance(vocabulary, keras.layers.StringLookup):
        if vocabulary.output_mode != "int" or vocabulary.invert:
            raise ValueError(
                "`vocabulary` must be a StringLookup with output_mode='int' and "
                f"invert=False. Received: output_mode={vocabulary.output_mode!r}, "
                f"invert={vocabulary.invert}."
            )
        tokens = [str(token) for token in vocabulary.get_vocabulary()]
        # StringLookup puts the mask token (if any) at 0, then the OOV tokens.
        padding_rows = [0] if vocabulary.mask_token is not None else []
        oov_rows = list(range(len(padding_rows), len(padding_rows) + vocabulary.num_oov_indices))
        if len(tokens) == len(padding_rows) + len(oov_rows):
            raise ValueError(
                "`vocabulary` is a StringLookup without a vocabulary yet; call `adapt` "
                "or pass `vocabulary=` to it first."
            )
        return tokens, padding_rows, oov_rows
    if isinstance(vocabulary, (str, bytes)) or not hasattr(vocabulary, "__iter__"):
        raise ValueError(
            "`vocabulary` must be None, a list of tokens or a keras.layers.StringLookup. "
            f"Received: vocabulary={describe(vocabulary)}."
        )
    tokens = list(vocabulary)
    for row, token in enumerate(tokens):
        if not isinstance(token, str):
            raise ValueError(
                f"`vocabulary` must hold strings; vocabulary[{row}] is {describe(token)}."
            )
    if not tokens:
        raise ValueError("`vocabulary` is empty; it needs at least one token.")
    return tokens, [], []


def _as_vectors(vectors):
    if isinstance(vectors, (str, os.PathLike)):
        from keras_embed.vectors.formats import load

        return load(vectors)
    if not isinstance(vectors, Vectors):
        raise ValueError(
            "`vectors` must be a keras_embed.vectors.Vectors (from `load`) or a path. "
            f"Received: vectors={describe(vectors)}."
        )
    return vectors


def align_vectors(
    vectors, vocabulary=None, missing="matched_normal", case_fold=True, seed=None, mask_zero=False
):
    """The `(len(vocabulary), dim)` float32 table of a vocabulary, and its coverage.

    Tokens found in `vectors` (as they are, else after `str.casefold` when
    `case_fold`; the first such word wins) copy its vector. Padding rows
    (a `StringLookup`'s mask token, or row 0 when `mask_zero`) are zeros.
    Everything else (tokens not found, a `StringLookup`'s OOV rows) is
    initialised by `missing`.

    Args:
        vectors: a `Vectors` or a path to load.
        vocabulary: None (every word of `vectors`, in order), a list of
            tokens (token `i` gets row `i`) or a `keras.layers.StringLookup`.
        missing: a key of `MISSING_INITIALIZERS`: `"matched_normal"`,
            `"zeros"`, `"uniform"` or `"subwords"` (fastText n-grams).
        case_fold: also match tokens after case folding.
        seed: integer seed of the random initialisers.
        mask_zero: reserve row 0 for padding.

    Returns:
        `(table, coverage)`: a numpy array and a `Coverage`.

    Example:

    >>> import numpy as np
    >>> from keras_embed.vectors import Vectors, align_vectors
    >>> vectors = Vectors(["the", "cat"], np.array([[1., 2.], [3., 4.]]))
    >>> table, coverage = align_vectors(vectors, ["Cat", "dog", "the"], missing="zeros")
    >>> table.tolist()
    [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]
    >>> print(coverage)
    2 of 3 tokens found (66.7%): 1 exact, 1 case-folded; 1 missing, initialised with 'zeros'
    """
    vectors = _as_vectors(vectors)
    if not isinstance(missing, str) or missing not in MISSING_INITIALIZERS:
        raise ValueError(
            f"`missing` must be one of {tuple(MISSING_INITIALIZERS)}. "
            f"Received: missing={describe(missing)}."
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"`seed` must be an integer or None. Received: seed={describe(seed)}.")
    tokens, padding_rows, oov_rows = _vocabulary_tokens(vocabulary, vectors)
    if mask_zero and not padding_rows:
        padding_rows = [0]  # Keras' mask_zero reserves id 0 for padding.
    is_reserved = np.zeros(len(tokens), dtype=bool)
    is_reserved[padding_rows + oov_rows] = True
    looked_up = np.flatnonzero(~is_reserved)  # Rows whose token is looked up.

    source_rows = np.full(len(tokens), -1, dtype=np.int64)  # Row in `vectors`, or -1.
    source_rows[looked_up] = vectors.rows_of([tokens[row] for row in looked_up])
    exact_count = int(np.count_nonzero(source_rows >= 0))
    unmatched = looked_up[source_rows[looked_up] < 0]
    if case_fold and unmatched.size:
        folded_index = {}
        for row, word in enumerate(vectors.words):
            folded_index.setdefault(word.casefold(), row)
        source_rows[unmatched] = [folded_index.get(tokens[row].casefold(), -1) for row in unmatched]

    table = np.zeros((len(tokens), vectors.dim), dtype=np.float32)
    found_rows = np.flatnonzero(source_rows >= 0)
    for start in range(0, found_rows.size, _GATHER_ROWS):
        rows = found_rows[start : start + _GATHER_ROWS]
        table[rows] = vectors.matrix[source_rows[rows]]
    missing_rows = looked_up[source_rows[looked_up] < 0]
    to_initialise = np.union1d(missing_rows, oov_rows).astype(np.int64)
    if to_initialise.size:
        rng = np.random.default_rng(seed)
        initializer = MISSING_INITIALIZERS[missing]
        table[to_initialise] = initializer([tokens[row] for row in to_initialise], vectors, rng)
    coverage = Coverage(
        total=len(tokens),
        reserved=int(is_reserved.sum()),
        found=exact_count,
        case_folded=int(found_rows.size) - exact_count,
        missing=int(missing_rows.size),
        missing_initializer=missing,
        missing_tokens=[tokens[row] for row in missing_rows],
        pretrained_rows=found_rows,
        padding_rows=list(padding_rows),
    )
    return table, coverage


def embedding_from_vectors(
    vectors,
    vocabulary=None,
    trainable=True,
    missing="matched_normal",
    case_fold=True,
    seed=None,
    **layer_kwargs,
):
    """A `ReversibleEmbedding` initialised from pre-trained vectors.

    `ReversibleEmbedding.from_vectors` is this function.

    Args:
        vectors: a `Vectors` (or a path, loaded with `load`).
        vocabulary: None (all words of `vectors`, in their order), a list of
            tokens (row `i` is token `i`), or a `keras.layers.StringLookup`
            (its mask row is zeros and masked, since `mask_zero` then
            defaults to True; its OOV rows are initialised like missing
            tokens).
        trainable: True (fine-tune every row), False (freeze the table) or
            `"missing_only"` (semi-freeze: only rows without a pre-trained
            vector train; the pre-trained rows and padding rows stay
            bit-identical through `fit`). The last returns a
            `SemiFrozenReversibleEmbedding`.
        missing: how to initialise tokens the vectors lack: `"matched_normal"`
            (normal draws with the per-dimension mean and standard deviation
            of the pre-trained vectors), `"zeros"`, `"uniform"` (Keras'
            default) or `"subwords"` (fastText n-gram vectors; needs a
            fastText `.bin`).
        case_fold: also match tokens after `str.casefold`, counted apart
            in the coverage report.
        seed: integer seed for the missing-row initialiser.
        **layer_kwargs: other `ReversibleEmbedding` arguments (`tie_weights`,
            `mask_zero`, `name`, `dtype`, ...). `mask_zero=True` keeps row 0
            at zeros as padding.

    Returns:
        `(layer, coverage)`: a built layer and a `Coverage` report.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from keras_embed.vectors import Vectors, embedding_from_vectors
    >>> vectors = Vectors(["the", "cat", "sat"], np.eye(3, 4))
    >>> layer, coverage = embedding_from_vectors(
    ...     vectors, ["[PAD]", "cat", "dog"], trainable="missing_only",
    ...     mask_zero=True, seed=0)
    >>> print(coverage)
    1 of 2 tokens found (50.0%): 1 exact, 0 case-folded; 1 missing, initialised with 'matched_normal'; 1 reserved rows
    >>> layer.trainable_row_ids.tolist()
    [2]
    >>> keras.ops.convert_to_numpy(layer(np.array([1]))).tolist()
    [[0.0, 1.0, 0.0, 0.0]]
    """
    if not (trainable is True or trainable is False or trainable == "missing_only"):
        raise ValueError(
            "`trainable` must be True, False or 'missing_only'. Received: "
            f"trainable={describe(trainable)}."
        )
    for name in ("input_dim", "output_dim", "num_trainable_rows"):
        if name in layer_kwargs:
            raise ValueError(
                f"`{name}` comes from the vectors and the vocabulary; do not pass it. "
                f"Received: {name}={describe(layer_kwargs[name])}."
            )
    vectors = _as_vectors(vectors)
    if isinstance(vocabulary, keras.layers.StringLookup) and vocabulary.mask_token is not None:
        layer_kwargs.setdefault("mask_zero", True)
    table, coverage = align_vectors(
        vectors,
        vocabulary,
        missing=missing,
        case_fold=case_fold,
        seed=seed,
        mask_zero=bool(layer_kwargs.get("mask_zero", False)),
    )
    input_dim, output_dim = table.shape
    if trainable == "missing_only":
        frozen = np.union1d(coverage.pretrained_rows, coverage.padding_rows)
        trainable_rows = np.setdiff1d(np.arange(input_dim), frozen)
        layer = SemiFrozenReversibleEmbedding(
            input_dim, output_dim, num_trainable_rows=int(trainable_rows.size), **layer_kwargs
        )
        layer.build()
        layer.assign_table(table, trainable_rows)
    else:
        layer = ReversibleEmbedding(input_dim, output_dim, **layer_kwargs)
        layer.build()
        layer.embeddings.assign(table)
        layer.trainable = trainable
    return layer, coverage


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

    `embedding_from_vectors(..., trainable="missing_only")` builds one whose
    trainable rows are the tokens without a pre-trained vector. Reading
    `layer.embeddings` gives the merged table the layer computes with.

    Args:
        input_dim: int. Size of the vocabulary.
        output_dim: int. Size of each embedding vector.
        num_trainable_rows: int in `[0, input_dim]`: how many rows train. Say
            which with `assign_table` after `build`.
        **kwargs: `ReversibleEmbedding` arguments (`tie_weights`,
            `mask_zero`, `reverse_dtype`, `logit_soft_cap`, ...). LoRA and
            quantisation are not supported.

    Call arguments:
        inputs: integer ids of shape `(...)`, or hidden states of shape
            `(..., output_dim)` when `reverse=True`.
        reverse: bool. Project to the vocabulary instead of embedding.

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

    def __init__(self, input_dim, output_dim, num_trainable_rows, **kwargs):
        for name in ("lora_rank", "quantization_config"):
            if kwargs.get(name) is not None:
                raise ValueError(f"SemiFrozenReversibleEmbedding does not support `{name}`.")
            kwargs.pop(name, None)
        super().__init__(input_dim, output_dim, **kwargs)
        if (
            isinstance(num_trainable_rows, bool)
            or not isinstance(num_trainable_rows, numbers.Integral)
            or not 0 <= num_trainable_rows <= input_dim
        ):
            raise ValueError(
                f"`num_trainable_rows` must be an integer in [0, input_dim={input_dim}]. "
                f"Received: num_trainable_rows={describe(num_trainable_rows)}."
            )
        self.num_trainable_rows = int(num_trainable_rows)

    def build(self, input_shape=None):
        if self.built:
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
                initializer=clone_initializer(self.embeddings_initializer),
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
                initializer=clone_initializer(self.embeddings_initializer),
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
        if not self.num_trainable_rows:
            return table
        slots = ops.convert_to_tensor(self.row_slots)  # (input_dim,)
        trained = ops.take(
            ops.convert_to_tensor(self.trainable_embeddings), ops.maximum(slots, 0), axis=0
        )
        table = ops.convert_to_tensor(table)
        return ops.where(ops.expand_dims(ops.greater_equal(slots, 0), -1), trained, table)

    def call(self, inputs, reverse=False):
        if reverse or not self.num_trainable_rows:
            return super().call(inputs, reverse=reverse)
        # Two gathers of the ids' rows instead of merging the whole table per step.
        check_integer_dtype("inputs", inputs)
        frozen = lookup_rows(
            ops.convert_to_tensor(self._embeddings),
            inputs,
            "inputs",
            f"the vocabulary (input_dim={self.input_dim})",
        )  # (..., output_dim); zeros for out-of-range ids in compiled code.
        in_range = ops.logical_and(ops.greater_equal(inputs, 0), ops.less(inputs, self.input_dim))
        slots = ops.take(  # (...)
            ops.convert_to_tensor(self.row_slots), ops.clip(inputs, 0, self.input_dim - 1), axis=0
        )
        trained = ops.take(
            ops.convert_to_tensor(self.trainable_embeddings), ops.maximum(slots, 0), axis=0
        )
        use_trained = ops.logical_and(in_range, ops.greater_equal(slots, 0))
        outputs = ops.where(ops.expand_dims(use_trained, -1), trained, frozen)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config["num_trainable_rows"] = self.num_trainable_rows
        return config

    @property
    def variable_serialization_spec(self):
        spec = copy.deepcopy(super().variable_serialization_spec)
        for names in spec.values():
            names.extend(["row_slots", "trainable_embeddings"])
        return spec


def from_layer(layer, vocabulary=None):
    """`Vectors` over a layer's embedding table, for similarity queries.

    Args:
        layer: a built `ReversibleEmbedding`, `SemiFrozenReversibleEmbedding`
            or `keras.layers.Embedding`.
        vocabulary: the token of each row: a list, a `StringLookup` (its full
            vocabulary; repeated reserved tokens get a `#row` suffix), or
            None for the row numbers as strings.

    Returns:
        A `Vectors` whose `matrix` is a float32 numpy copy of the table.

    Example:

    >>> import numpy as np
    >>> from keras_embed.layers import ReversibleEmbedding
    >>> layer = ReversibleEmbedding(3, 2)
    >>> layer.build()
    >>> _ = layer.embeddings.assign(np.array([[1., 0.], [0., 1.], [1., 0.1]]))
    >>> vectors = from_layer(layer, ["a", "b", "c"])
    >>> vectors.most_similar("a", topn=1)[0][0]
    'c'
    """
    if not isinstance(layer, keras.layers.Layer) or not layer.built or not hasattr(
        layer, "embeddings"
    ):
        raise ValueError(
            "`layer` must be a built embedding layer with an `embeddings` table. "
            f"Received: layer={describe(layer)}."
        )
    matrix = np.asarray(ops.convert_to_numpy(ops.cast(layer.embeddings, "float32")))
    if vocabulary is None:
        words = [str(row) for row in range(matrix.shape[0])]
    elif isinstance(vocabulary, keras.layers.StringLookup):
        words = _unique_reserved([str(token) for token in vocabulary.get_vocabulary()])
    else:
        words = list(vocabulary)
    if len(words) != matrix.shape[0]:
        raise ValueError(
            f"`vocabulary` must have one token per row of the table ({matrix.shape[0]}). "
            f"Received: {len(words)} tokens."
        )
    return Vectors(words, matrix)


def _unique_reserved(words):
    """Repeated reserved tokens (several "[UNK]" rows) get a `#row` suffix."""
    seen = set()
    unique = []
    for row, word in enumerate(words):
        unique.append(word if word not in seen else f"{word}#{row}")
        seen.add(word)
    return unique
