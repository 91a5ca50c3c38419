"""`FastText`: Word2Vec whose words are also their character n-grams (Bojanowski et al., 2017)."""

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed.models.word2vec import Word2Vec
from keras_embed.ops._fasttext_ngrams import ngram_rows
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows


@keras.saving.register_keras_serializable(package="keras_embed")
class FastText(Word2Vec):
    """fastText word vectors, trained as gensim 4's `FastText` trains them.

    Like `Word2Vec` (same arguments, defaults and training), except that the
    input vector of a word is the mean of its own row and the rows of its
    character n-grams: the n-grams of `<word>` from `min_n` to `max_n`
    characters, each hashed to one of `bucket` rows with fastText's FNV-1a,
    as fastText and gensim hash them. The input table holds the words' rows
    followed by the `bucket` n-gram rows (fastText's input matrix). Every row
    of a word gets the whole step of its input vector, as in fastText and gensim.
    A training step holds at most `batch_size` examples and a fixed number of
    input rows (1.25 times those of an average batch), the examples' rows end
    to end, so that a batch of short words does not pay for the longest word.

    `.wv` holds each vocabulary word's mean vector, and gives words outside the
    vocabulary the mean of their n-gram rows (gensim's and fastText's rule).
    gensim's skip-gram divides a word's summed rows by its n-gram count where
    fastText divides by the row count; this model takes fastText's mean.

    Args:
        min_n: shortest n-gram, in characters. Defaults to 3.
        max_n: longest n-gram, in characters. Defaults to 6.
        bucket: number of n-gram rows. Defaults to 2,000,000.
        **kwargs: `Word2Vec` arguments (`sentences`, `vector_size`, `sg`, ...).

    Call arguments:
        ids: integer tensor `(...)` of word ids (rows of `vocabulary`).

    Returns:
        The words' input vectors (means over their rows), `(..., vector_size)`.

    Example:

    >>> sentences = [["walking", "talking", "walked", "talked"]] * 20
    >>> model = FastText(sentences, vector_size=8, min_count=1, bucket=1000,
    ...                  epochs=1, verbose=0)
    >>> model.wv["walks"].shape  # a word never seen, from its n-grams
    (8,)
    """

    def __init__(self, sentences=None, corpus_file=None, min_n=3, max_n=6, bucket=2_000_000,
                 **kwargs):
        self.min_n = check_positive_int("min_n", min_n)
        self.max_n = check_integer("max_n", max_n, minimum=self.min_n,
                                   expected=f"an integer >= min_n={self.min_n}")
        self.bucket = check_positive_int("bucket", bucket)
        self._subword_table = None
        super().__init__(sentences=sentences, corpus_file=corpus_file, **kwargs)

    def _input_rows_count(self):
        return len(self.vocabulary) + self.bucket

    def _subword_rows(self):
        if self._subword_table is None:
            size = len(self.vocabulary)
            buckets, owners, order_keys = ngram_rows(self.vocabulary, self.min_n, self.max_n, self.bucket)
            order = np.lexsort((order_keys, owners))  # fastText's order: by word, then n-gram
            buckets, owners = buckets[order], owners[order]
            counts = np.bincount(owners, minlength=size)
            starts = np.cumsum(counts) - counts
            table = np.full((size, 1 + int(counts.max(initial=0))), -1, dtype=np.int32)
            table[:, 0] = np.arange(size)
            table[owners, 1 + np.arange(owners.size) - starts[owners]] = size + buckets
            self._subword_table = table
        return self._subword_table

    def call(self, ids):
        what = table_rows("vocabulary", len(self.vocabulary) if self.vocabulary else 0)
        rows = lookup_rows(ops.convert_to_tensor(self._subword_rows()), integer_ids("ids", ids), "ids", what)
        present = rows >= 0
        vectors = ops.take(self.input_embeddings, ops.where(present, rows, 0), axis=0)
        weights = ops.cast(ops.expand_dims(present, -1), vectors.dtype)
        return ops.sum(vectors * weights, axis=-2) / ops.sum(weights, axis=-2)

    def _make_vectors(self):
        from keras_embed.vectors import Vectors
        from keras_embed.vectors.fasttext_bin import FastTextSubwords

        size = len(self.vocabulary)
        table = self._input_table()
        subwords = FastTextSubwords(table[size:], self.min_n, self.max_n, self.bucket,
                                    word_matrix=table[:size])
        means = subwords.vectors(self.vocabulary, own_rows=np.arange(size), own_matrix=table[:size])
        return Vectors(self.vocabulary, means, subwords=subwords)

    def get_config(self):
        return {**super().get_config(), "min_n": self.min_n, "max_n": self.max_n,
                "bucket": self.bucket}
