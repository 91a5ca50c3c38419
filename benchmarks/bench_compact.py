"""Compact tables: size of a 10M-id table, and quality on words never seen in training.

Size: parameters and float32 bytes of a 10,000,000-id, 64-wide table as a plain
`keras.layers.Embedding` (counted from its shape, not allocated), as
`HashEmbedding` (1M buckets) and as `QREmbedding` (4096 collisions), built.

Quality: masked-word prediction on the demo's corpus (the standard library's
docstrings, tokenized with the demo's `WordTokenizer` rules) with an
out-of-vocabulary split: 20% of the word types (seen at least 3 times, apart
from the 200 commonest) are held out entirely; training uses only sentences without them, and evaluation the
sentences that have them. A small window model (the 4 words on each side of a
masked word -> embedding -> Dense -> softmax over the 2,000 commonest kept
words) is trained once per input table, at equal parameter budgets:

- plain table: one row per training word seen twice, others (held-out words
  included) read the `[UNK]` row;
- `HashEmbedding`: `hash_strings(word)` hashed into as many rows;
- `SubwordEmbedding`: half the rows for the commonest training words, half for
  fastText n-gram buckets (minn=3, maxn=6), so unseen words get n-gram vectors.

Reported: accuracy on masked words whose window holds at least one held-out word,
and, as a control, on the other masked words of the same sentences.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_compact.py [--quick]
"""

import collections
import time
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
from _timing import HEADER, benchmark_parser

from keras_embed.demo.corpus import WordTokenizer, load_docstring_corpus, split_sentences
from keras_embed.layers import HashEmbedding, QREmbedding, SubwordEmbedding
from keras_embed.preprocessing import SubwordTokenizer, hash_strings

WINDOW = 4
OUTPUT_WORDS = 2000
HELD_OUT_TYPES = 0.2
MIN_COUNT = 3
ALWAYS_KEPT = 200
DIM = 64
PAD, UNK = "[PAD]", "[UNK]"


def table_bytes(layer):
    return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in layer.weights)


def size_rows(quick):
    rows, dim = (100_000, 16) if quick else (10_000_000, 64)
    plain_params = rows * dim
    layers = {
        f"HashEmbedding ({rows // 10:,} buckets, 2 hashes)": HashEmbedding(rows // 10, dim),
        "QREmbedding (4096 collisions, mult)": QREmbedding(rows, dim, num_collisions=4096),
    }
    lines = []
    for name, layer in layers.items():
        layer.build()
        params = layer.count_params()
        lines.append(
            f"| {rows:,}-id x {dim} table, parameters: "
            f"{name} vs plain | {keras.config.backend()} | {params:,} | {plain_params:,} | "
            f"{params / plain_params:.4f} |"
        )
        lines.append(
            f"| {rows:,}-id x {dim} table, float32 memory: {name} vs plain | {keras.config.backend()} | "
            f"{table_bytes(layer) / 2**20:.1f} MiB | {plain_params * 4 / 2**20:.1f} MiB | "
            f"{table_bytes(layer) / (plain_params * 4):.4f} |"
        )
    return lines


# --- quality ------------------------------------------------------------------------


def oov_split(quick):
    corpus = load_docstring_corpus(limit=300 if quick else None)
    sentences = [
        WordTokenizer.tokenize(s) for _, text in corpus.documents for s in split_sentences(text)
    ]
    counts = collections.Counter(word for sentence in sentences for word in sentence)
    # The commonest words (function words) stay: no realistic split loses "the".
    common = {word for word, _ in counts.most_common(ALWAYS_KEPT)}
    types = sorted(word for word, count in counts.items() if count >= MIN_COUNT and word not in common)
    rng = np.random.default_rng(0)
    held_out = set(rng.choice(types, size=int(HELD_OUT_TYPES * len(types)), replace=False).tolist())
    train = [s for s in sentences if not held_out.intersection(s)]
    test = [s for s in sentences if held_out.intersection(s)]
    train_counts = collections.Counter(word for sentence in train for word in sentence)
    ranked = [w for w, c in sorted(train_counts.items(), key=lambda x: (-x[1], x[0])) if c >= 2]
    return train, test, held_out, ranked


def windows(sentences, targets, held_out, unseen=None):
    """(context words (n, 2 * WINDOW), target index (n,)) for each predictable position.

    `unseen=True` keeps windows holding a held-out word, `False` those without, `None` all.
    """
    contexts, labels = [], []
    for sentence in sentences:
        padded = [PAD] * WINDOW + sentence + [PAD] * WINDOW
        for position, word in enumerate(sentence):
            if word not in targets:
                continue
            context = padded[position : position + WINDOW] + padded[position + WINDOW + 1 : position + 2 * WINDOW + 1]
            if unseen is not None and unseen != bool(held_out.intersection(context)):
                continue
            contexts.append(context)
            labels.append(targets[word])
    return np.array(contexts, dtype=object), np.array(labels, dtype=np.int32)


def encoders(ranked, budget_rows):
    """name -> (embedding layer, function from an array of word types to their inputs)."""
    plain_vocabulary = [PAD, UNK] + ranked[: budget_rows - 2]
    plain_index = {word: i for i, word in enumerate(plain_vocabulary)}
    plain = keras.layers.Embedding(len(plain_vocabulary), DIM)
    to_plain = lambda words: np.array([plain_index.get(w, 1) for w in words], np.int32)

    hashed = HashEmbedding(budget_rows - budget_rows * 2 // DIM, DIM)  # P adds 2 weights a row
    to_hashed = lambda words: hash_strings(words) % np.int64(2**31)  # int32 ids on every backend

    word_rows = budget_rows // 2
    subword = SubwordEmbedding(word_rows, budget_rows - word_rows, DIM, minn=3, maxn=6)
    tokenizer = subword.tokenizer(ranked[:word_rows], max_pieces=24)

    def to_subword(words):
        pieces = tokenizer(list(words))
        pieces[np.asarray(words) == PAD] = -1  # padding embeds to zeros
        return pieces

    return {
        "plain table + [UNK]": (plain, to_plain),
        "HashEmbedding": (hashed, to_hashed),
        "SubwordEmbedding": (subword, to_subword),
    }


def encode(to_inputs, contexts):
    """Each word type is encoded once, then gathered: `(n, 2 * WINDOW, ...)`."""
    types, inverse = np.unique(contexts.astype(str), return_inverse=True)
    per_type = np.asarray(to_inputs(types.tolist()))
    return per_type[inverse.reshape(-1)].reshape(contexts.shape + per_type.shape[1:])


def window_model(embedding, input_shape, num_outputs):
    inputs = keras.Input(input_shape, dtype="int32")
    hidden = keras.layers.Flatten()(embedding(inputs))
    hidden = keras.layers.Dense(256, activation="relu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(num_outputs)(hidden))


def quality_rows(quick):
    train, test, held_out, ranked = oov_split(quick)
    targets = {word: i for i, word in enumerate(ranked[:OUTPUT_WORDS])}
    train_x, train_y = windows(train, targets, held_out)
    test_x, test_y = windows(test, targets, held_out, unseen=True)
    control_x, control_y = windows(test, targets, held_out, unseen=False)
    budget_rows = len(ranked) + 2  # the plain table: every training word seen twice, [PAD], [UNK]
    epochs = 1 if quick else 3
    accuracies = {}
    for name, (embedding, to_inputs) in encoders(ranked, budget_rows).items():
        keras.utils.set_random_seed(0)
        x, x_test, x_control = (encode(to_inputs, c) for c in (train_x, test_x, control_x))
        model = window_model(embedding, x.shape[1:], len(targets))
        model.compile(
            optimizer=keras.optimizers.Adam(2e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x, train_y, batch_size=512, epochs=epochs, verbose=0)
        accuracies[name] = (
            model.evaluate(x_test, test_y, batch_size=2048, verbose=0)[1],
            model.evaluate(x_control, control_y, batch_size=2048, verbose=0)[1],
            embedding.count_params(),
        )
    base, base_control, base_params = accuracies["plain table + [UNK]"]
    lines = []
    for name in ("HashEmbedding", "SubwordEmbedding"):
        accuracy, control, params = accuracies[name]
        lines.append(
            f"| masked-word accuracy next to unseen words ({len(test_y):,} targets): {name} "
            f"({params:,} params) vs plain + [UNK] ({base_params:,}) | {keras.config.backend()} | "
            f"{accuracy:.3f} | {base:.3f} | {accuracy / base:.2f} |"
        )
        lines.append(
            f"| same models, masked words with only seen words around ({len(control_y):,}): {name} "
            f"vs plain + [UNK] | {keras.config.backend()} | {control:.3f} | {base_control:.3f} | "
            f"{control / base_control:.2f} |"
        )
    return lines


def main(argv=None):
    args = benchmark_parser().parse_args(argv)
    if not args.no_header:
        print(HEADER)
    for line in size_rows(args.quick):
        print(line, flush=True)
    started = time.perf_counter()
    for line in quality_rows(args.quick):
        print(line, flush=True)
    print(f"quality rows took {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
