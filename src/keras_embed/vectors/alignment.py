"""Pre-trained vectors aligned to a vocabulary, and layers back into `Vectors`.

`align_vectors` gives the `(len(vocabulary), dim)` table of a vocabulary,
rows the vectors lack initialised by a `MISSING_INITIALIZERS` entry, and a
`Coverage` report; `ReversibleEmbedding.from_vectors` builds its layers from
that table. `from_layer` turns a layer's table back into `Vectors` for
similarity queries. Nothing here imports `keras_embed.layers`: the layers
depend on this module, never the other way round.
"""

import dataclasses
import os

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_choice, check_integer, check_string_list, describe
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
    tokens = check_string_list("vocabulary", vocabulary)
    if not tokens:
        raise ValueError("`vocabulary` is empty; it needs at least one token.")
    return tokens, [], []


def _as_vectors(vectors):
    if isinstance(vectors, (str, os.PathLike)):
        from keras_embed.vectors.loading import load

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
    check_choice("missing", missing, tuple(MISSING_INITIALIZERS))
    check_integer("seed", seed, allow_none=True)
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


def align_for_embedding(vectors, vocabulary, trainable, missing, case_fold, seed, layer_kwargs):
    """Checks and aligns what `ReversibleEmbedding.from_vectors` was given.

    Returns:
        `(table, coverage, layer_kwargs)`: the aligned numpy table, its
        `Coverage`, and the layer arguments with `mask_zero` defaulted to
        True for a `StringLookup` that has a mask token.
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
    layer_kwargs = dict(layer_kwargs)
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
    return table, coverage, layer_kwargs


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
    # A table stored padded for sharding holds input_dim rows and zero rows after them.
    table = layer.unpadded(layer.embeddings) if hasattr(layer, "unpadded") else layer.embeddings
    matrix = np.asarray(ops.convert_to_numpy(ops.cast(table, "float32")))
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
