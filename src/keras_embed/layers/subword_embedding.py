import os

import keras
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_choice
from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import in_range
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows
from keras_embed.preprocessing.subword_tokenizer import SubwordTokenizer
from keras_embed.preprocessing.subword_tokenizer import check_ngram_lengths

_COMBINERS = ("mean", "sum")


@keras.saving.register_keras_serializable(package="keras_embed")
class SubwordEmbedding(SublayerQuantizationMixin, keras.layers.Layer):
    """fastText's subword model as a trainable layer: a word is its row plus its n-grams.

    One table holds `num_words` word rows followed by `num_buckets` n-gram
    rows, as fastText's input matrix does (Bojanowski et al., 2017). A word
    arrives as the rows `keras_embed.preprocessing.SubwordTokenizer` gives it
    (its own row if it is in the vocabulary, then the hashed rows of its
    character n-grams, padded with -1), and its vector is

        "mean": (1 / n) * sum of its n rows      (fastText's word vector)
        "sum":  sum of its n rows

    so words never seen in training still get vectors from their n-grams. A
    word with no rows at all embeds to zeros. Rows at or above
    `num_words + num_buckets` raise a `ValueError` when their values are
    known and count as padding inside compiled functions. Float32 rows (what
    `keras.Sequential` without an `Input` feeds) are cast to int32; float16
    and bfloat16 rows are refused, since they cannot hold ids above 256
    exactly: under a mixed policy give the model an integer `Input`.

    `SubwordEmbedding.from_fasttext` builds the layer and its tokenizer from
    a fastText `.bin`; the vector of any word then equals fastText's
    `get_word_vector` within float32 rounding.

    Args:
        num_words: int. Word rows (the vocabulary size).
        num_buckets: int. n-gram rows.
        output_dim: int. Size of each vector.
        minn: int. Shortest n-gram the tokenizer makes. Defaults to 3.
        maxn: int. Longest n-gram (0 for none). Defaults to 6.
        combiner: `"mean"` or `"sum"`. Defaults to `"mean"`.
        mask_empty: bool. Whether a word with no rows (a padding word) is
            masked in the output. Defaults to `False`.
        embeddings_initializer: initializer of the table. Defaults to `"uniform"`.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: integer rows of shape `(..., pieces)` in
            `[0, num_words + num_buckets)`, or negative for padding.

    Input shape:
        `(..., pieces)`.

    Output shape:
        `(..., output_dim)`.

    Returns:
        The word vectors in the compute dtype.

    The table is a `keras.layers.Embedding` sublayer, so
    `model.quantize("int8")` (or `"int4"`, or `layer.quantize(...)`)
    quantizes it, and a `.keras` file keeps it quantized.

    Example:

    >>> from keras_embed.preprocessing import SubwordTokenizer
    >>> tokenizer = SubwordTokenizer(["cat", "dog"], minn=3, maxn=5, num_buckets=1000)
    >>> layer = SubwordEmbedding(num_words=2, num_buckets=1000, output_dim=8, minn=3, maxn=5)
    >>> tuple(layer(tokenizer([["cat", "kitten"], ["dogs", "</s>"]])).shape)
    (2, 2, 8)

    References:
        - [Bojanowski et al., 2017](https://arxiv.org/abs/1607.04606)
    """

    def __init__(
        self,
        num_words,
        num_buckets,
        output_dim,
        minn=3,
        maxn=6,
        combiner="mean",
        mask_empty=False,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_words = check_integer("num_words", num_words, minimum=0)
        self.num_buckets = check_positive_int("num_buckets", num_buckets)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.minn, self.maxn = check_ngram_lengths(minn, maxn)
        check_choice("combiner", combiner, _COMBINERS)
        check_bool("mask_empty", mask_empty)
        self.combiner = combiner
        self.mask_empty = mask_empty
        self.supports_masking = mask_empty
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        # Ids reach `call` as given: keras would cast numpy ids to the float compute dtype.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.table = keras.layers.Embedding(
            num_words + self.num_buckets,
            self.output_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="table",
        )

    @property
    def rows(self):
        return self.num_words + self.num_buckets

    def tokenizer(self, vocabulary, max_pieces=None):
        """A `SubwordTokenizer` with this layer's `minn`, `maxn` and `num_buckets`."""
        if len(vocabulary) != self.num_words:
            raise ValueError(
                f"`vocabulary` must hold num_words={self.num_words} words. Received: "
                f"{len(vocabulary)} words."
            )
        return SubwordTokenizer(vocabulary, self.minn, self.maxn, self.num_buckets, max_pieces)

    def build(self, input_shape=None):
        self.restore_sublayer_quantization()
        self.table.build()
        self.built = True

    def call(self, inputs):
        pieces = integer_ids("inputs", inputs)
        if len(pieces.shape) == 0:
            raise ValueError(
                "`inputs` must have a last axis of pieces (rows per word). Received: a scalar."
            )
        # (..., pieces, output_dim), padding (negative) pieces all-zero, then summed over pieces.
        rows = lookup_rows(
            lambda valid_pieces: ops.cast(self.table(valid_pieces), self.compute_dtype),
            pieces,
            "inputs",
            table_rows("num_words + num_buckets", self.rows),
            rows=self.rows,
            negatives_are_padding=True,
        )
        summed = ops.sum(rows, axis=-2)
        if self.combiner == "sum":
            return summed
        # fastText scales the sum by float32(1 / n).
        counts = ops.sum(ops.cast(in_range(pieces, self.rows), "float32"), axis=-1, keepdims=True)
        scale = ops.divide(1.0, ops.maximum(counts, 1.0))
        return ops.cast(ops.multiply(ops.cast(summed, "float32"), scale), self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_empty:
            return None
        return ops.any(in_range(integer_ids("inputs", inputs), self.rows), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_words": self.num_words,
                "num_buckets": self.num_buckets,
                "output_dim": self.output_dim,
                "minn": self.minn,
                "maxn": self.maxn,
                "combiner": self.combiner,
                "mask_empty": self.mask_empty,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            }
        )
        return config

    @classmethod
    def from_fasttext(cls, path_or_vectors, max_pieces=None, **kwargs):
        """The layer and its tokenizer from a fastText `.bin` model.

        The table is the model's input matrix (word rows, then n-gram rows)
        and the tokenizer its dictionary, `minn`, `maxn` and `bucket`, so
        `layer(tokenizer(words))` equals fastText's `get_word_vector` for
        every word, in or out of the vocabulary, within float32 rounding.

        Args:
            path_or_vectors: path of a fastText `.bin` (plain or compressed),
                or `Vectors` loaded from one with `keras_embed.vectors.load`.
            max_pieces: passed to the tokenizer.
            **kwargs: other arguments of the layer (`trainable`, `name`, ...).

        Returns:
            `(layer, tokenizer)`.

        Raises:
            ValueError: (`keras_embed.vectors.VectorsFileError`) when the file
                is not a fastText `.bin`; a `ValueError` for `Vectors` without
                fastText subwords.
        """
        import numpy as np

        from keras_embed.vectors import Vectors
        from keras_embed.vectors import load

        if isinstance(path_or_vectors, (str, bytes, os.PathLike)):
            vectors = load(path_or_vectors, format="fasttext_bin")
        elif isinstance(path_or_vectors, Vectors):
            vectors = path_or_vectors
        else:
            raise ValueError(
                "`path_or_vectors` must be the path of a fastText .bin or `Vectors` loaded from "
                f"one. Received: {describe(path_or_vectors)}."
            )
        subwords = vectors.subwords
        if subwords is None or getattr(subwords, "word_matrix", None) is None:
            raise ValueError(
                "`path_or_vectors` must come from a fastText .bin (loaded with "
                "`keras_embed.vectors.load`), which holds the word and n-gram rows; these "
                "vectors have no fastText subwords."
            )
        words = list(vectors.words)
        table = np.concatenate(
            [np.asarray(subwords.word_matrix[: len(words)]), np.asarray(subwords.ngram_matrix)]
        ).astype("float32")
        layer = cls(
            num_words=len(words),
            num_buckets=subwords.bucket,
            output_dim=subwords.dim,
            minn=max(subwords.minn, 1),
            maxn=subwords.maxn,
            **kwargs,
        )
        layer.build()
        layer.table.embeddings.assign(table)
        return layer, layer.tokenizer(words, max_pieces)
