"""Word vectors: keras_embed's Word2Vec and FastText vs gensim 4.4 on the same corpus and settings.

Corpus: the text of the GNU Collaborative International Dictionary of English
(Debian package `dict-gcide`, `/usr/share/dictd/gcide.dict.dz`: Webster's 1913
and later definitions, about 6.5M words), lowercased, letters only, one entry
paragraph per line; `--corpus FILE` takes any one-sentence-per-line file, and
without either the benchmark falls back to gensim's small `lee_background.cor`.
Both libraries train with the same settings (gensim's defaults, `min_count=5`,
`vector_size=100`, 5 epochs; gensim with `workers=2`), and their vectors are
scored by the same code: Spearman correlation on WordSim-353 and SimLex-999 over
the pairs both vocabularies hold, and 3CosAdd accuracy on Google's analogy
questions (the 30,000 most frequent words, questions with all four words in
them), all three files from gensim's test data. Speed is corpus words read per
second of training (vocabulary building excluded), both sides in this process.

gensim reads the corpus one of two ways (`--gensim-input`, both by default), and
they train differently. With `sentences=` (here the corpus read into memory first)
its learning rate falls linearly from `alpha` to `min_alpha` over all epochs, as
ours does. With `corpus_file=` each of the `workers` threads reads its own
1/workers of the file but measures its progress against the whole corpus, so
within an epoch the rate only falls 1/workers of the way and the last epoch ends
at `alpha - (alpha - min_alpha) (epochs - 1 + 1/workers) / epochs` (0.0063 for 2
epochs and 2 workers, 0.0026 for 5) instead of `min_alpha`.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_word2vec.py [--quick] [--configs sg_ns,cbow_ns]
        [--epochs 2] [--gensim-input file,sentences] [--gensim-workers 2] [--min-alpha 0.0063]
"""

import gzip
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
from _timing import HEADER, benchmark_parser

from keras_embed.models import FastText
from keras_embed.models import Word2Vec

GCIDE = "/usr/share/dictd/gcide.dict.dz"
# name -> (model class name, arguments both libraries take)
CONFIGS = {
    "sg_ns": ("Word2Vec", {"sg": 1, "hs": 0, "negative": 5}),
    "cbow_ns": ("Word2Vec", {"sg": 0, "hs": 0, "negative": 5}),
    "sg_hs": ("Word2Vec", {"sg": 1, "hs": 1, "negative": 0}),
    "cbow_hs": ("Word2Vec", {"sg": 0, "hs": 1, "negative": 0}),
    "fasttext_sg_ns": ("FastText", {"sg": 1, "hs": 0, "negative": 5, "bucket": 200_000}),
}
# --gensim-input value -> how the rows name it
GENSIM_INPUTS = {"file": "corpus_file=", "sentences": "sentences="}
ANALOGY_VOCABULARY = 30_000
_MARKUP = re.compile(r"\\[^\\]*\\|\[[^\]]*\]|--[A-Z][\w. ]*|\{|\}")
_WORD = re.compile(r"[a-z]+")


def gcide_corpus(path, limit_words):
    """Write the dictionary's definitions as a one-paragraph-per-line file; returns its path."""
    target = os.path.join(tempfile.gettempdir(), f"keras-embed-gcide-{limit_words}.txt")
    if os.path.exists(target):
        return target
    text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
    words, lines = 0, []
    for paragraph in text.split("\n\n"):
        tokens = _WORD.findall(_MARKUP.sub(" ", paragraph).lower())
        if len(tokens) > 1:
            lines.append(" ".join(tokens))
            words += len(tokens)
            if words >= limit_words:
                break
    with open(target + ".part", "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    os.replace(target + ".part", target)
    return target


def corpus_path(args):
    if args.corpus:
        return args.corpus, os.path.basename(args.corpus)
    if os.path.exists(GCIDE):
        limit = 300_000 if args.quick else args.words
        return gcide_corpus(GCIDE, limit), f"gcide definitions ({limit / 1e6:.1f}M words max)"
    from gensim.test.utils import datapath

    return datapath("lee_background.cor"), "gensim lee_background.cor"


def read_pairs(path):
    pairs = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            parts = line.strip().split("\t")
            if line.startswith("#") or len(parts) < 3:
                continue
            try:
                pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
            except ValueError:
                continue  # a header line
    return pairs


def unit_rows(words, matrix):
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return {word: row for row, word in enumerate(words)}, matrix / np.maximum(norms, 1e-12)


def pair_spearman(index, unit, pairs, shared):
    from scipy.stats import spearmanr

    kept = [(a, b, score) for a, b, score in pairs if a in shared and b in shared]
    cosines = [float(unit[index[a]] @ unit[index[b]]) for a, b, _ in kept]
    return spearmanr(cosines, [score for _, _, score in kept]).statistic, len(kept)


def analogy_accuracy(index, unit, words, questions):
    """3CosAdd over the first `ANALOGY_VOCABULARY` words, the three question words excluded."""
    top = unit[:ANALOGY_VOCABULARY]
    kept = [q for q in questions if all(w in index and index[w] < ANALOGY_VOCABULARY for w in q)]
    if not kept:
        return float("nan"), 0
    ids = np.array([[index[w] for w in q] for q in kept])
    correct = 0
    for start in range(0, len(ids), 2048):
        block = ids[start:start + 2048]
        queries = unit[block[:, 1]] - unit[block[:, 0]] + unit[block[:, 2]]
        scores = queries @ top.T
        np.put_along_axis(scores, block[:, :3], -np.inf, axis=1)
        correct += int(np.sum(np.argmax(scores, axis=1) == block[:, 3]))
    return correct / len(kept), len(kept)


def read_questions(path):
    questions = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.startswith(":"):
                parts = line.lower().split()
                if len(parts) == 4:
                    questions.append(parts)
    return questions


def scores(words, matrix, shared, benchmarks):
    index, unit = unit_rows(words, matrix)
    wordsim = pair_spearman(index, unit, benchmarks["wordsim353"], shared)
    simlex = pair_spearman(index, unit, benchmarks["simlex999"], shared)
    analogy = analogy_accuracy(index, unit, words, benchmarks["analogies"])
    return {"wordsim353": wordsim, "simlex999": simlex, "analogy": analogy}


def train_gensim(kind, settings, path, epochs, source, workers):
    """gensim trained on the file (`source="file"`, `corpus_file=`) or on its sentences in memory."""
    import gensim

    model_class = {"Word2Vec": gensim.models.Word2Vec, "FastText": gensim.models.FastText}[kind]
    model = model_class(vector_size=100, min_count=5, workers=workers, epochs=epochs, **settings)
    if source == "file":
        corpus = {"corpus_file": path}
    else:
        corpus = {"corpus_iterable": list(gensim.models.word2vec.LineSentence(path))}
    model.build_vocab(**corpus)
    start = time.perf_counter()
    model.train(**corpus, total_examples=model.corpus_count,
                total_words=model.corpus_total_words, epochs=epochs)
    seconds = time.perf_counter() - start
    words = model.corpus_total_words * epochs
    return model.wv.index_to_key, model.wv.vectors, words / seconds


def train_ours(kind, settings, path, epochs, batch_size):
    model_class = {"Word2Vec": Word2Vec, "FastText": FastText}[kind]
    model = model_class(vector_size=100, min_count=5, epochs=epochs, batch_size=batch_size,
                        **settings)
    model.build_vocab(corpus_file=path)
    report = model.train(corpus_file=path, verbose=0)
    return model.wv.words, model.wv.matrix, report["words_per_second"]


def main():
    parser = benchmark_parser()
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--corpus", default=None, help="one-sentence-per-line corpus file")
    parser.add_argument("--words", type=int, default=7_000_000, help="gcide words to use")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--min-alpha", type=float, default=None,
                        help="final learning rate of both libraries (default: theirs, 0.0001)")
    parser.add_argument("--gensim-workers", type=int, default=2)
    parser.add_argument("--gensim-input", default="file,sentences",
                        help="how gensim reads the corpus: file (corpus_file=), sentences, or both")
    args = parser.parse_args()
    from gensim.test.utils import datapath

    path, corpus_name = corpus_path(args)
    epochs = args.epochs or (1 if args.quick else 5)
    benchmarks = {
        "wordsim353": read_pairs(datapath("wordsim353.tsv")),
        "simlex999": read_pairs(datapath("simlex999.txt")),
        "analogies": read_questions(datapath("questions-words.txt")),
    }
    backend = keras.config.backend()
    tokens = sum(len(line.split()) for line in open(path, encoding="utf-8"))
    print(f"corpus: {corpus_name}, {tokens} words; {epochs} epochs; load: {os.getloadavg()}",
          file=sys.stderr)
    if not args.no_header:
        print(HEADER)
    sources = args.gensim_input.split(",")
    if not set(sources) <= set(GENSIM_INPUTS):
        parser.error(f"--gensim-input takes {', '.join(GENSIM_INPUTS)}; received {args.gensim_input!r}")
    for name in args.configs.split(","):
        kind, settings = CONFIGS[name]
        if args.min_alpha is not None:
            settings = {**settings, "min_alpha": args.min_alpha}
        words, matrix, speed = train_ours(kind, settings, path, epochs, args.batch_size)
        for source in sources:
            peer_words, peer_matrix, peer_speed = train_gensim(kind, settings, path, epochs, source,
                                                                args.gensim_workers)
            print_rows(f"{name}, gensim {GENSIM_INPUTS[source]}", backend, benchmarks,
                       (words, matrix, speed), (peer_words, peer_matrix, peer_speed))
        print(f"{name} done; load: {os.getloadavg()}", file=sys.stderr, flush=True)


def print_rows(name, backend, benchmarks, ours_run, peer_run):
    (words, matrix, speed), (peer_words, peer_matrix, peer_speed) = ours_run, peer_run
    shared = set(words) & set(peer_words)
    ours = scores(words, matrix, shared, benchmarks)
    peer = scores(peer_words, peer_matrix, shared, benchmarks)
    for metric in ("wordsim353", "simlex999"):
        (value, count), (peer_value, _) = ours[metric], peer[metric]
        print(f"| {name} {metric} Spearman ({count} pairs) | {backend} | {value:.3f} | "
              f"{peer_value:.3f} | {value - peer_value:+.3f} (difference) |")
    (value, count), (peer_value, _) = ours["analogy"], peer["analogy"]
    print(f"| {name} analogy accuracy ({count} questions) | {backend} | {100 * value:.1f}% | "
          f"{100 * peer_value:.1f}% | {100 * (value - peer_value):+.1f} points |")
    print(f"| {name} training words/s | {backend} | {speed:,.0f} | {peer_speed:,.0f} | "
          f"{speed / peer_speed:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
