"""GloVe: `keras_embed.models.GloVe` vs a port of the reference `glove.c` training loop.

Both fit the same co-occurrences (counted once by `keras_embed.models.cooccurrence`,
which follows GloVe's `vocab_count` and `cooccur`), with the settings of the reference
`demo.sh` (window 15, min count 5, 50 dimensions, 15 epochs, x_max 10, alpha 0.75,
learning rate 0.05), from `glove.c`'s initialisation, and output `w + w~`.
The peer is `glove.c`'s loop (one pair at a time, AdaGrad with the accumulator
starting at 1, float64) written in Python and compiled with numba (the `bench`
extra), on one thread: the C code itself ships in no package reachable here.

The corpus ships with gensim: the 106 articles of its shortened English Wikipedia
dump (gensim's tokenizer) and the Lee background corpus, about 0.5M tokens. Quality is
Spearman's rho on WordSim353 and SimLex-999 and accuracy on the Google analogies
(gensim's test data and evaluators, their defaults); time is training only.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_glove.py [--quick] [--epochs 25]
"""

import logging
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
from _timing import HEADER, benchmark_parser

from keras_embed.models import GloVe
from keras_embed.models.cooccurrence import TokenizedCorpus
from keras_embed.models.cooccurrence import build_vocabulary
from keras_embed.models.cooccurrence import corpus_cooccurrences

WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def gensim_data(name):
    from gensim.test.utils import datapath

    return datapath(name)


def corpus_sentences(quick):
    """Token lists: the Wikipedia sample's articles (lower-cased by gensim) and Lee's lines."""
    from gensim.corpora.wikicorpus import WikiCorpus

    with open(gensim_data("lee_background.cor"), encoding="utf-8") as stream:
        sentences = [line.lower().split() for line in stream]
    if not quick:
        wiki = WikiCorpus(gensim_data(WIKI_SAMPLE), dictionary={}, processes=1)
        sentences += list(wiki.get_texts())
    return sentences


def glove_c_loop():
    """`glove.c`'s training loop over one epoch, compiled by numba (or plain Python)."""

    def epoch(words, contexts, gradsq_words, gradsq_contexts, rows, columns, counts, order,
              eta, x_max, alpha):
        d = words.shape[1] - 1
        cost = 0.0
        for position in order:
            i, j, x = rows[position], columns[position], counts[position]
            diff = words[i, d] + contexts[j, d] - np.log(x)
            for k in range(d):
                diff += words[i, k] * contexts[j, k]
            fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
            cost += 0.5 * fdiff * diff
            fdiff *= eta
            for k in range(d):
                temp1 = fdiff * contexts[j, k]
                temp2 = fdiff * words[i, k]
                words[i, k] -= temp1 / np.sqrt(gradsq_words[i, k])
                contexts[j, k] -= temp2 / np.sqrt(gradsq_contexts[j, k])
                gradsq_words[i, k] += temp1 * temp1
                gradsq_contexts[j, k] += temp2 * temp2
            words[i, d] -= fdiff / np.sqrt(gradsq_words[i, d])
            contexts[j, d] -= fdiff / np.sqrt(gradsq_contexts[j, d])
            gradsq_words[i, d] += fdiff * fdiff
            gradsq_contexts[j, d] += fdiff * fdiff
        return cost / len(order)

    try:
        import numba
    except ImportError:
        return epoch, "Python"
    return numba.njit(cache=False, fastmath=False)(epoch), f"numba {numba.__version__}"


def train_reference(cooccurrences, vocab_size, dim, epochs, eta, x_max, alpha, seed):
    epoch, runner = glove_c_loop()
    rng = np.random.default_rng(seed)
    width = dim + 1
    words = (rng.random((vocab_size, width)) - 0.5) / width
    contexts = (rng.random((vocab_size, width)) - 0.5) / width
    gradsq_words, gradsq_contexts = np.ones_like(words), np.ones_like(contexts)
    rows, columns, counts = cooccurrences
    # Compile outside the timed region.
    epoch(words.copy(), contexts.copy(), gradsq_words.copy(), gradsq_contexts.copy(), rows,
          columns, counts, np.arange(1), eta, x_max, alpha)
    start = time.perf_counter()
    for _ in range(epochs):
        epoch(words, contexts, gradsq_words, gradsq_contexts, rows, columns, counts,
              rng.permutation(len(counts)), eta, x_max, alpha)
    seconds = time.perf_counter() - start
    return (words[:, :dim] + contexts[:, :dim]).astype(np.float32), seconds, runner


def scores(vocabulary, matrix):
    """(WordSim353 rho, SimLex-999 rho, analogy accuracy) with gensim's evaluators."""
    from gensim.models import KeyedVectors

    logging.getLogger("gensim").setLevel(logging.ERROR)
    vectors = KeyedVectors(matrix.shape[1])
    vectors.add_vectors(vocabulary, matrix)
    wordsim = vectors.evaluate_word_pairs(gensim_data("wordsim353.tsv"))[1][0]
    simlex = vectors.evaluate_word_pairs(gensim_data("simlex999.txt"))[1][0]
    analogies = vectors.evaluate_word_analogies(gensim_data("questions-words.txt"))[0]
    return wordsim, simlex, analogies


def ratio(ours, peer):
    return f"{ours / peer:.2f}" if peer else "-"


def main():
    parser = benchmark_parser()
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--x-max", type=float, default=10.0,
                        help="10 as in the reference demo (100 suits far larger corpora)")
    args = parser.parse_args()
    # The reference demo's settings (demo.sh): 50 dimensions, 15 iterations, x_max 10.
    epochs = args.epochs or (2 if args.quick else 15)
    dim = args.dim or (10 if args.quick else 50)
    window, x_max, alpha, eta, seed = 15, args.x_max, 0.75, 0.05, 0
    if not args.no_header:
        print(HEADER)
    sentences = corpus_sentences(args.quick)
    start = time.perf_counter()
    corpus = TokenizedCorpus(sentences)
    vocabulary, _ = build_vocabulary(corpus.words, corpus.counts, args.min_count)
    cooccurrences = corpus_cooccurrences(corpus, vocabulary, window)
    counting = time.perf_counter() - start
    tokens = len(corpus.token_ids)

    model = GloVe(vocabulary=vocabulary, vector_size=dim, window=window, x_max=x_max,
                  alpha=alpha, learning_rate=eta, epochs=epochs, batch_size=args.batch_size,
                  seed=seed)
    start = time.perf_counter()
    model.fit_corpus(cooccurrences=cooccurrences, verbose=0)
    ours_seconds = time.perf_counter() - start
    ours = scores(vocabulary, model.embedding_matrix("sum"))
    reference, peer_seconds, runner = train_reference(
        cooccurrences, len(vocabulary), dim, epochs, eta, x_max, alpha, seed
    )
    peer = scores(vocabulary, reference)

    backend = keras.config.backend()
    label = (f"glove {tokens / 1e6:.2f}M tokens, V={len(vocabulary)}, "
             f"{len(cooccurrences.counts) / 1e6:.2f}M pairs, d{dim} {epochs} epochs")
    peer_name = f"glove.c loop ({runner}, 1 thread)"
    for name, ours_value, peer_value in zip(
        ("WordSim353 rho", "SimLex-999 rho", "analogy accuracy"), ours, peer
    ):
        print(f"| {label} {name} | {backend} | {ours_value:.3f} | {peer_value:.3f} "
              f"({peer_name}) | {ratio(ours_value, peer_value)} |", flush=True)
    pairs = len(cooccurrences.counts) * epochs
    print(f"| {label} training time (batch {args.batch_size}) | {backend} | {ours_seconds:.1f} s "
          f"({pairs / ours_seconds / 1e6:.2f}M pairs/s) | {peer_seconds:.1f} s ({peer_name}, "
          f"{pairs / peer_seconds / 1e6:.2f}M pairs/s) | {ours_seconds / peer_seconds:.2f} |",
          flush=True)
    print(f"| {label} co-occurrence counting | any | {counting:.1f} s "
          f"({tokens / counting / 1e6:.2f}M tokens/s) | - | - |", flush=True)


if __name__ == "__main__":
    main()
