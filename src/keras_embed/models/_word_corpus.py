"""Corpus side of the word-vector models (private, numpy only): vocabulary, subsampling, windows.

The rules are word2vec's as gensim 4 applies them (Mikolov et al., 2013):

- the vocabulary keeps words seen at least `min_count` times, most frequent
  first (ties in order of first appearance); other words are dropped from
  the sentences before windows are laid, which brings their neighbours closer;
- sentences longer than 10,000 tokens are cut into pieces of 10,000;
- each epoch, a word of count `c` is kept with probability
  `min(1, (sqrt(c / t) + 1) * t / c)` where `t = sample * total` (`total`:
  the summed counts of the vocabulary); `sample >= 1` means `t = sample`;
- the learning rate falls linearly from `alpha` to `min_alpha` with the
  share of all epochs' tokens read before each chunk of ~10,000 tokens;
- each kept word gets a reduced window `window - b`, `b` uniform in
  `[0, window)`, and pairs with the kept words that close on each side,
  inside its sentence.
"""

import collections

import numpy as np

from keras_embed._validation import describe

# Raw tokens per corpus chunk: gensim's job size, so the learning rate steps as often.
CHUNK_TOKENS = 10_000


def count_words(corpus):
    """`{word: count}` of a corpus' `Sentences`, in order of first appearance."""
    counts = collections.Counter()
    for sentence in corpus:
        counts.update(sentence)
    return counts


def vocabulary_of(counts, min_count):
    """`(words, counts)` of the words seen `min_count` times or more, most frequent first."""
    if not counts:
        raise ValueError("The corpus must hold at least one word. Received: an empty corpus.")
    kept = [(word, count) for word, count in counts.items() if count >= min_count]
    if not kept:
        top_word, top_count = max(counts.items(), key=lambda item: item[1])
        raise ValueError(
            f"No word of the corpus occurs `min_count`={min_count} times or more (the most "
            f"frequent, {top_word!r}, occurs {top_count} times); lower `min_count`."
        )
    for word, _ in kept:
        if not isinstance(word, str):
            raise ValueError(f"Sentences must hold strings as tokens. Received: {describe(word)}.")
    kept.sort(key=lambda item: item[1], reverse=True)
    return [word for word, _ in kept], np.array([count for _, count in kept], dtype=np.int64)


def encode_corpus(corpus, index):
    """`(ids, sentence_ends)`: every in-vocabulary token as an int32 id, and where sentences end."""
    ids, ends, total = [], [], 0
    for sentence in corpus:
        encoded = [index[token] for token in sentence if token in index]
        if encoded:
            ids.extend(encoded)
            total += len(encoded)
            ends.append(total)
    return np.asarray(ids, dtype=np.int32), np.asarray(ends, dtype=np.int64)


def keep_probabilities(counts, sample):
    """`(V,)` probability of keeping each word in an epoch (gensim's `sample_int / 2**32`)."""
    counts = np.asarray(counts, dtype=np.float64)
    if not sample:
        return np.ones_like(counts)
    threshold = sample * counts.sum() if sample < 1.0 else sample
    return np.minimum((np.sqrt(counts / threshold) + 1.0) * (threshold / counts), 1.0)


def learning_rate(alpha, min_alpha, progress):
    """gensim's linear decay: `alpha` at `progress` 0 (of all epochs) to `min_alpha` at 1 (numbers or arrays)."""
    return np.maximum(min_alpha, alpha - (alpha - min_alpha) * progress)


def _chunk_bounds(sentence_ends, total):
    """`(start, stop)` token ranges of about `CHUNK_TOKENS`, cut at sentence ends."""
    start = 0
    while start < total:
        cut = np.searchsorted(sentence_ends, start + CHUNK_TOKENS, side="left")
        stop = int(sentence_ends[min(cut, len(sentence_ends) - 1)])
        yield start, stop
        start = stop


def _window_examples(ids, sentences, reduced_windows, window, cbow):
    """Training examples of one chunk of kept words: `(inputs (n, c), outputs (n,))`.

    Skip-gram: one example per (word, neighbour) pair, the neighbour the input
    and the word the output, as gensim trains them (`c = 1`). CBOW: one example
    per word with a neighbour, its neighbours the inputs (`c = 2 * window`, -1
    pads).
    """
    count = ids.size
    positions = np.arange(count)
    if cbow:
        contexts = np.full((count, 2 * window), -1, dtype=np.int32)
        for offset in range(1, window + 1):
            reaches = reduced_windows >= offset
            for column, neighbours in ((window - offset, positions - offset),
                                       (window + offset - 1, positions + offset)):
                inside = (neighbours >= 0) & (neighbours < count)
                inside[inside] &= sentences[neighbours[inside]] == sentences[positions[inside]]
                chosen = np.flatnonzero(reaches & inside)
                contexts[chosen, column] = ids[neighbours[chosen]]
        has_context = (contexts >= 0).any(axis=1)
        return contexts[has_context], ids[has_context]
    inputs, outputs = [], []
    for offset in range(1, window + 1):
        same_sentence = sentences[offset:] == sentences[:-offset]
        left, right = ids[:-offset], ids[offset:]
        forward = np.flatnonzero(same_sentence & (reduced_windows[:-offset] >= offset))
        backward = np.flatnonzero(same_sentence & (reduced_windows[offset:] >= offset))
        inputs += [right[forward], left[backward]]
        outputs += [left[forward], right[backward]]
    return np.concatenate(inputs)[:, None], np.concatenate(outputs)


def epoch_examples(ids, sentence_ends, keep, window, cbow, rng, shrink_windows=True):
    """One epoch's examples, chunk by chunk: yields `(inputs, outputs, tokens_before)`.

    `tokens_before` counts the corpus tokens (kept or not) before the chunk,
    which the learning-rate schedule follows, as gensim's does per job.
    """
    for start, stop in _chunk_bounds(sentence_ends, ids.size):
        chunk = ids[start:stop]
        first = np.searchsorted(sentence_ends, start, side="right")
        last = np.searchsorted(sentence_ends, stop, side="left") + 1
        lengths = np.diff(np.concatenate([[start], sentence_ends[first:last]]))
        sentences = np.repeat(np.arange(lengths.size), lengths)
        kept = rng.random(chunk.size) < keep[chunk]
        kept_ids, kept_sentences = chunk[kept], sentences[kept]
        if shrink_windows:
            reduced_windows = window - rng.integers(0, window, kept_ids.size)
        else:
            reduced_windows = np.full(kept_ids.size, window)
        inputs, outputs = _window_examples(kept_ids, kept_sentences, reduced_windows, window, cbow)
        yield inputs, outputs, start


def batches(examples, batch_size, width):
    """Fixed-size batches `(inputs (batch_size, width), outputs (batch_size,), tokens_done)`.

    The last batch is padded with -1 (no example). `tokens_done` is that of
    the chunk the batch's first example came from.
    """
    pending_inputs = np.zeros((0, width), dtype=np.int32)
    pending_outputs = np.zeros(0, dtype=np.int32)
    pending_done = None
    for inputs, outputs, done in examples:
        if pending_done is None:
            pending_done = done
        pending_inputs = np.concatenate([pending_inputs, inputs.astype(np.int32)])
        pending_outputs = np.concatenate([pending_outputs, outputs.astype(np.int32)])
        while pending_outputs.size >= batch_size:
            yield pending_inputs[:batch_size], pending_outputs[:batch_size], pending_done
            pending_inputs, pending_outputs = pending_inputs[batch_size:], pending_outputs[batch_size:]
            pending_done = done
    if pending_outputs.size:
        padding = batch_size - pending_outputs.size
        yield (
            np.concatenate([pending_inputs, np.full((padding, width), -1, dtype=np.int32)]),
            np.concatenate([pending_outputs, np.full(padding, -1, dtype=np.int32)]),
            pending_done,
        )


def packed_batches(examples, batch_size, word_rows, row_budget):
    """Batches of at most `batch_size` examples holding at most `row_budget` input rows.

    For models whose input words stand for several rows of the input table
    (fastText: a word's own row and its n-grams' rows). Padding every word to
    the longest list of rows in the vocabulary would make every example pay
    for the longest word; here the rows of a batch's examples lie end to end.

    Args:
        examples: `epoch_examples`' chunks `(inputs (n, c), outputs (n,), tokens_before)`.
        batch_size: examples per batch at most.
        word_rows: `(V, s)` int32, each word's input-table rows first, -1 after them.
        row_budget: rows per batch; at least the rows of any one example.

    Yields:
        `(rows (row_budget,), owners (row_budget,), outputs (batch_size,), tokens_done)`:
        the input rows of the batch's examples (each example's input words in
        order), the example each row belongs to (-1: padding, row -1), and the
        words to predict (-1: padding). A batch never spans two chunks.
    """
    word_rows = np.asarray(word_rows)
    row_counts = np.count_nonzero(word_rows >= 0, axis=1)
    row_values = word_rows[word_rows >= 0].astype(np.int32)  # word by word, in order
    row_offsets = np.cumsum(row_counts) - row_counts
    for inputs, outputs, done in examples:
        words = inputs.reshape(-1)
        lengths = np.where(words >= 0, row_counts[np.maximum(words, 0)], 0)
        slot_starts = np.cumsum(lengths) - lengths
        flat = row_values[np.repeat(row_offsets[np.maximum(words, 0)] - slot_starts, lengths)
                          + np.arange(int(lengths.sum()))]
        example_rows = lengths.reshape(inputs.shape).sum(axis=1)
        bounds = np.concatenate([[0], np.cumsum(example_rows)])
        start, count = 0, outputs.size
        while start < count:
            fits = int(np.searchsorted(bounds, bounds[start] + row_budget, side="right")) - 1
            stop = min(start + batch_size, fits)
            rows = np.full(row_budget, -1, dtype=np.int32)
            owners = np.full(row_budget, -1, dtype=np.int32)
            taken = bounds[stop] - bounds[start]
            rows[:taken] = flat[bounds[start]:bounds[stop]]
            owners[:taken] = np.repeat(np.arange(stop - start, dtype=np.int32), example_rows[start:stop])
            batch_outputs = np.full(batch_size, -1, dtype=np.int32)
            batch_outputs[:stop - start] = outputs[start:stop]
            yield rows, owners, batch_outputs, done
            start = stop


def blocks(batches_of_examples, steps):
    """`steps` batches at a time, each of a batch's arrays stacked: `(*arrays (steps, ...), tokens_done (steps,))`.

    A batch is `(*arrays, tokens_done)`: `batches`' `(inputs, outputs, done)`
    or `packed_batches`' `(rows, owners, outputs, done)`. The last block is
    filled up with empty batches (every array -1: no example), which change
    nothing, so that every block has one shape and compiles once.
    """
    pending = []
    for batch in batches_of_examples:
        pending.append(batch)
        if len(pending) == steps:
            yield _stacked(pending)
            pending = []
    if pending:
        *arrays, done = pending[-1]
        empty = (*(np.full_like(array, -1) for array in arrays), done)
        yield _stacked(pending + [empty] * (steps - len(pending)))


def _stacked(batches_of_examples):
    *arrays, done = zip(*batches_of_examples)
    return (*(np.stack(array) for array in arrays), np.asarray(done, dtype=np.float64))
