"""`SubwordTokenizer`: words to fastText's word row plus character n-gram rows."""

import numpy as np

from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_unique
from keras_embed._validation import describe
from keras_embed.ops._fasttext_ngrams import END_OF_SENTENCE
from keras_embed.ops._fasttext_ngrams import ngram_rows

PADDING = -1


def check_ngram_lengths(minn, maxn):
    """`minn >= 1`, `maxn >= 0` and `minn <= maxn` unless `maxn == 0` (no n-grams)."""
    minn = check_positive_int("minn", minn)
    maxn = check_integer("maxn", maxn, minimum=0)
    if maxn and minn > maxn:
        raise ValueError(
            f"`minn` must be <= `maxn` (or `maxn=0` for no n-grams). Received: minn={minn}, maxn={maxn}."
        )
    return minn, int(maxn)


class SubwordTokenizer:
    """Turns words into the rows of a fastText-style table: word row and n-gram rows.

    A word's rows, in fastText's order, are its own row (its index in
    `vocabulary`, when it has one) followed by `len(vocabulary) + bucket`
    for each character n-gram of `<word>` of `minn` to `maxn` characters,
    with `bucket` fastText's FNV-1a hash of the n-gram's UTF-8 bytes modulo
    `num_buckets` (the same function `keras_embed.vectors` uses to read
    `.bin` models, bit for bit). The end-of-sentence token `"</s>"` has no
    n-grams, as in fastText. Out-of-vocabulary words get n-gram rows only.

    Args:
        vocabulary: list of str. The words that own a row, in row order.
        minn: int. Shortest n-gram, in characters. Defaults to 3.
        maxn: int. Longest n-gram; 0 for none. Defaults to 6.
        num_buckets: int. Hash buckets for n-grams. Defaults to 2,000,000
            (fastText's default).
        max_pieces: int or `None`. Width of the output's last axis: rows
            beyond it are dropped. `None` pads to the word with most rows.

    Call arguments:
        words: a str, or a (nested) list or numpy array of str.

    Returns:
        int32 numpy array of shape `words.shape + (pieces,)`, padded with -1.

    Example:

    >>> tokenizer = SubwordTokenizer(["cat", "dog"], minn=3, maxn=3, num_buckets=100)
    >>> pieces = tokenizer(["cat", "cats"])
    >>> pieces.shape  # "cat": own row + 3 trigrams; "cats": 4 trigrams
    (2, 4)
    >>> int(pieces[0, 0]), bool((pieces[1] >= 2).all())
    (0, True)
    """

    def __init__(self, vocabulary, minn=3, maxn=6, num_buckets=2_000_000, max_pieces=None):
        if isinstance(vocabulary, str) or not hasattr(vocabulary, "__iter__"):
            raise ValueError(
                f"`vocabulary` must be a list of str. Received: vocabulary={describe(vocabulary)}."
            )
        self.vocabulary = [str(word) for word in vocabulary]
        check_unique("vocabulary", self.vocabulary)
        self.minn, self.maxn = check_ngram_lengths(minn, maxn)
        self.num_buckets = check_positive_int("num_buckets", num_buckets)
        self.max_pieces = check_positive_int("max_pieces", max_pieces, allow_none=True)
        self.index = {word: row for row, word in enumerate(self.vocabulary)}

    @property
    def num_words(self):
        return len(self.vocabulary)

    def __call__(self, words):
        array = np.asarray(words, dtype=object)
        flat = [self._word(value, index) for index, value in enumerate(array.reshape(-1))]
        pieces = self.pieces(flat)
        width = self.max_pieces or max((len(rows) for rows in pieces), default=0)
        output = np.full((len(flat), width), PADDING, dtype=np.int32)
        for position, rows in enumerate(pieces):
            rows = rows[:width]
            output[position, : len(rows)] = rows
        return output.reshape(array.shape + (width,))

    def pieces(self, words):
        """The rows of each word of the list `words`, as a list of int arrays."""
        with_ngrams = [i for i, word in enumerate(words) if word != END_OF_SENTENCE]
        rows, owners, keys = ngram_rows(
            [words[i] for i in with_ngrams], self.minn, self.maxn, self.num_buckets
        )
        owners = np.asarray(with_ngrams, dtype=np.int64)[owners]
        order = np.lexsort((keys, owners))
        rows, owners = rows[order] + self.num_words, owners[order]
        splits = np.searchsorted(owners, np.arange(1, len(words)))
        result = []
        for word, ngrams in zip(words, np.split(rows, splits)):
            own = self.index.get(word)
            result.append(ngrams if own is None else np.concatenate([[own], ngrams]))
        return result

    @staticmethod
    def _word(value, index):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise ValueError(
                f"`words` must hold str values. Received: {describe(value)} at flat index {index}."
            )
        return value
