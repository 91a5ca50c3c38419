"""Word-word co-occurrence counts for GloVe, as GloVe's `vocab_count` and `cooccur` tools make them.

Pennington, Socher & Manning (2014), section 3 and the reference tools:

- the vocabulary is every word seen at least `min_count` times, most
  frequent first, ties in alphabetical (code point) order; with `max_vocab`
  only that many of the most frequent words are kept;
- a sentence (a line of a corpus file) is a document: windows never cross it;
- words outside the vocabulary are dropped before windows are laid, so they
  take no position;
- a word at distance `d <= window` from another adds `1 / d` to their count
  (`distance_weighting=False`: adds 1); with `symmetric=True` both orders
  count, so `X` is symmetric and a word `d` places from itself adds `2 / d`.

Counting reads the corpus once, holding 8 bytes per token (its id and its
sentence) and the nonzero counts; pairs are summed in chunks of tokens (sort
and segment sum in numpy), so memory never holds every window of the corpus
at once.
"""

import collections

import numpy as np

from keras_embed._validation import check_bool
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe

# Tokens per counting chunk: its `window` offsets hold about `12 * window` bytes per token.
_CHUNK_TOKENS = 1 << 18
# Pairs of two of this many most frequent words are summed in a dense (K, K) float64 array.
_DENSE_WORDS = 2048

Cooccurrences = collections.namedtuple("Cooccurrences", ["rows", "columns", "counts"])
Cooccurrences.__doc__ = """Nonzero co-occurrence counts in row-major order.

`rows` (word ids, rows of `W`) and `columns` (context ids, rows of `W~`) are
int32 `(nnz,)`; `counts` float64 `(nnz,)` are the weighted counts `X_ij > 0`.
"""


class TokenizedCorpus:
    """A corpus (`_corpus.Sentences`) read once: every token as a provisional id, and where sentences end.

    Attributes:
        words: list of distinct words, in order of first appearance.
        counts: int64 `(len(words),)` occurrences of each.
        token_ids: int32 `(tokens,)` provisional ids of every token.
        sentence_ends: int64 `(sentences,)` end offsets into `token_ids`.
    """

    def __init__(self, sentences):
        provisional = {}
        chunks, ends, total = [], [], 0
        for sentence in sentences:
            ids = [provisional.setdefault(token, len(provisional)) for token in sentence]
            chunks.append(np.asarray(ids, dtype=np.int32))
            total += len(ids)
            ends.append(total)
        if not total:
            raise ValueError(
                "The corpus must hold at least one token. Received: "
                f"{len(ends)} sentences and 0 tokens."
            )
        for word in provisional:
            if not isinstance(word, str):
                raise ValueError(f"Tokens must be strings. Received: {describe(word)[:120]}.")
        self.words = list(provisional)
        self.token_ids = np.concatenate(chunks)
        self.sentence_ends = np.asarray(ends, dtype=np.int64)
        self.counts = np.bincount(self.token_ids, minlength=len(self.words)).astype(np.int64)


def build_vocabulary(words, counts, min_count=5, max_vocab=None):
    """`(vocabulary, counts)`: the kept words, most frequent first, ties alphabetical.

    Args:
        words: distinct words.
        counts: their occurrence counts.
        min_count: least occurrences a word needs.
        max_vocab: most words kept (the most frequent), or None for all.
    """
    check_positive_int("min_count", min_count)
    check_positive_int("max_vocab", max_vocab, allow_none=True)
    counts = np.asarray(counts, dtype=np.int64)
    order = sorted(range(len(words)), key=lambda i: (-counts[i], words[i]))
    order = [i for i in order if counts[i] >= min_count][:max_vocab]
    if not order:
        raise ValueError(
            f"No word reaches `min_count`={min_count}: the most frequent of the "
            f"{len(words)} distinct words occurs {int(counts.max(initial=0))} times. "
            "Lower `min_count` or give a larger corpus."
        )
    return [words[i] for i in order], counts[order]


def _reduce(keys, values):
    """Sum `values` of equal int64 `keys`: `(sorted distinct keys, sums)`."""
    if not len(keys):
        return keys, values
    order = np.argsort(keys)
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(values[order], starts)


def _pairs_of_chunk(ids, sentence_of_token, count, vocab_size, window, distance_weighting,
                    frequent_counts):
    """Summed keys `left * V + right` of the pairs whose left word is one of the first `count`.

    `ids` and `sentence_of_token` run `window` tokens past them, so no pair is cut.
    Pairs of two of the `K` most frequent words are added into the dense
    `frequent_counts` (`(K * K,)`, row-major) instead, as GloVe's `cooccur`
    keeps frequent pairs in a dense array: no sort for the bulk of the pairs.
    """
    frequent = int(np.sqrt(len(frequent_counts)))
    keys, weights, dense_keys, dense_weights = [], [], [], []
    for distance in range(1, window + 1):
        width = min(count, len(ids) - distance)
        if width <= 0:
            break
        same = sentence_of_token[:width] == sentence_of_token[distance : distance + width]
        left = ids[:width][same].astype(np.int64)
        right = ids[distance : distance + width][same]
        weight = 1.0 / distance if distance_weighting else 1.0
        dense = (left < frequent) & (right < frequent)
        dense_keys.append(left[dense] * frequent + right[dense])
        dense_weights.append(np.full(len(dense_keys[-1]), weight))
        keys.append(left[~dense] * vocab_size + right[~dense])
        weights.append(np.full(len(keys[-1]), weight))
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0)
    frequent_counts += np.bincount(
        np.concatenate(dense_keys), np.concatenate(dense_weights), minlength=len(frequent_counts)
    )
    return _reduce(np.concatenate(keys), np.concatenate(weights))


def count_cooccurrences(
    token_ids, sentence_ends, vocab_size, window=15, symmetric=True, distance_weighting=True
):
    """The nonzero co-occurrence counts of a corpus of vocabulary ids, as `Cooccurrences`.

    Args:
        token_ids: int `(tokens,)` vocabulary ids of the corpus (most frequent
            words first), out-of-vocabulary tokens already removed.
        sentence_ends: int `(sentences,)` end offsets of the sentences.
        vocab_size: number of words.
        window: context words on each side.
        symmetric: count left and right contexts (else only the left one:
            `X[left, right]`).
        distance_weighting: weight a pair by `1 / distance` (else by 1).
    """
    check_positive_int("window", window)
    check_bool("symmetric", symmetric)
    check_bool("distance_weighting", distance_weighting)
    token_ids = np.asarray(token_ids, dtype=np.int32)
    sentence_ends = np.asarray(sentence_ends, dtype=np.int64)
    sentence_of_token = np.repeat(
        np.arange(len(sentence_ends), dtype=np.int32), np.diff(sentence_ends, prepend=0)
    )
    frequent = min(vocab_size, _DENSE_WORDS)
    frequent_counts = np.zeros(frequent * frequent)
    merged = (np.zeros(0, np.int64), np.zeros(0))
    pending, pending_size = [], 0
    for start in range(0, len(token_ids), _CHUNK_TOKENS):
        count = min(_CHUNK_TOKENS, len(token_ids) - start)
        reach = slice(start, start + count + window)
        pending.append(_pairs_of_chunk(
            token_ids[reach], sentence_of_token[reach], count, vocab_size, window,
            distance_weighting, frequent_counts,
        ))
        pending_size += len(pending[-1][0])
        # Merge only once the pending pairs outgrow the merged ones: amortised linear.
        if pending_size > max(len(merged[0]), _CHUNK_TOKENS * window):
            merged, pending, pending_size = _merge([merged] + pending), [], 0
    dense_keys = np.flatnonzero(frequent_counts)
    dense = ((dense_keys // frequent) * vocab_size + dense_keys % frequent,
             frequent_counts[dense_keys])
    keys, counts = _merge([merged, dense] + pending)
    if symmetric:
        transposed = (keys % vocab_size) * vocab_size + keys // vocab_size
        keys, counts = _merge([(keys, counts), (transposed, counts)])
    return Cooccurrences(
        rows=(keys // vocab_size).astype(np.int32),
        columns=(keys % vocab_size).astype(np.int32),
        counts=counts,
    )


def _merge(parts):
    return _reduce(np.concatenate([k for k, _ in parts]), np.concatenate([c for _, c in parts]))


def corpus_cooccurrences(corpus, vocabulary, window=15, symmetric=True, distance_weighting=True):
    """The `Cooccurrences` of a `TokenizedCorpus` over `vocabulary` (other words are dropped)."""
    row_of_word = {word: row for row, word in enumerate(vocabulary)}
    to_vocabulary = np.asarray(
        [row_of_word.get(word, -1) for word in corpus.words], dtype=np.int32
    )
    ids = to_vocabulary[corpus.token_ids]
    kept = ids >= 0
    # Sentence ends counted in kept tokens only.
    kept_before = np.concatenate([[0], np.cumsum(kept)])
    return count_cooccurrences(
        ids[kept], kept_before[corpus.sentence_ends], len(vocabulary), window, symmetric,
        distance_weighting,
    )
