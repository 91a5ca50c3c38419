"""`GloVe`: global word vectors fitted to log co-occurrence counts (Pennington et al., 2014)."""

import time

import keras
import numpy as np
from keras import ops

from keras_embed._keras_internals import adagrad_accumulator
from keras_embed._validation import check_bool
from keras_embed._validation import check_choice
from keras_embed._validation import check_integer
from keras_embed._validation import check_number
from keras_embed._validation import check_positive_float
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_word_list
from keras_embed._validation import describe
from keras_embed.layers import Embedding
from keras_embed.models._corpus import corpus_of
from keras_embed.models._model_config import constructor_config
from keras_embed.models.cooccurrence import Cooccurrences
from keras_embed.models.cooccurrence import TokenizedCorpus
from keras_embed.models.cooccurrence import build_vocabulary
from keras_embed.models.cooccurrence import corpus_cooccurrences
from keras_embed.ops._backend import take
from keras_embed.optimizers import Adagrad
from keras_embed.optimizers.row_sparse_optimizer import write_rows
from keras_embed.vectors import Vectors

VECTOR_KINDS = ("sum", "word", "context")


# Constructor arguments kept in the config.
_CONFIG_ARGUMENTS = (
    "vocabulary", "vector_size", "window", "min_count", "max_vocab", "symmetric",
    "distance_weighting", "x_max", "alpha", "learning_rate", "epochs", "batch_size", "seed",
)


def _one_pass_corpus(sentences, corpus_file):
    """GloVe reads its corpus once, each sentence (line) a whole document as in `glove.c`."""
    return corpus_of(sentences, corpus_file, reiterable=False, max_sentence_length=None)


def glove_weighting(counts, x_max=100.0, alpha=0.75):
    """GloVe's weighting `f(x) = min(1, (x / x_max) ** alpha)` (eq. 9), float32."""
    counts = ops.cast(counts, "float32")
    return ops.minimum(ops.power(counts / x_max, alpha), 1.0)


def weighted_squared_errors(counts, predictions, x_max=100.0, alpha=0.75):
    """Per pair `f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)**2 / 2`, float32.

    The half is `glove.c`'s, so that the gradient is `f(X_ij)` times the error.
    """
    counts = ops.cast(counts, "float32")
    errors = ops.cast(predictions, "float32") - ops.log(counts)
    return 0.5 * glove_weighting(counts, x_max, alpha) * ops.square(errors)


@keras.saving.register_keras_serializable(package="keras_embed")
class GloVeLoss(keras.losses.Loss):
    """GloVe's weighted least squares, summed over the pairs of a batch (float32).

    `y_true` are the co-occurrence counts `X_ij`, `y_pred` the model's
    `w_i . w~_j + b_i + b~_j`. The sum, not the mean, gives every pair its own
    full gradient, as `glove.c`'s one-pair-at-a-time updates do.

    Args:
        x_max: count from which a pair has full weight. Defaults to 100.
        alpha: exponent of the weighting below `x_max`. Defaults to 0.75.
        name: loss name.
    """

    def __init__(self, x_max=100.0, alpha=0.75, name="glove_loss", **kwargs):
        kwargs.setdefault("reduction", "sum")
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self.x_max = check_positive_float("x_max", x_max)
        self.alpha = check_positive_float("alpha", alpha)

    def call(self, y_true, y_pred):
        return weighted_squared_errors(y_true, y_pred, self.x_max, self.alpha)

    def get_config(self):
        return {**super().get_config(), "x_max": self.x_max, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="keras_embed")
class GloVeCost(keras.metrics.Mean):
    """Mean of GloVe's weighted squared error per pair, the cost `glove.c` prints."""

    def __init__(self, x_max=100.0, alpha=0.75, name="cost", **kwargs):
        super().__init__(name=name, **kwargs)
        self.x_max = check_positive_float("x_max", x_max)
        self.alpha = check_positive_float("alpha", alpha)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = weighted_squared_errors(y_true, y_pred, self.x_max, self.alpha)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "x_max": self.x_max, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="keras_embed")
class GloVeAdagrad(Adagrad):
    """AdaGrad as GloVe's reference `glove.c` runs it, on sparse tables.

    For each row a step looked up, with summed gradient `g`:
    `w -= lr * g / sqrt(G)`, then `G += (lr * g) ** 2`, with `G` starting at
    `initial_accumulator_value` (1 in `glove.c`). So the first step is `lr * g`
    and the step uses the squares of the earlier gradients only (keras'
    Adagrad adds the current one first). With one pair per batch this is
    `glove.c`'s update exactly. Dense variables get keras' Adagrad update.

    Args:
        learning_rate: initial learning rate (`glove.c`'s `eta`). Defaults to 0.05.
        initial_accumulator_value: starting `G`. Defaults to 1.
        **kwargs: other `keras.optimizers.Adagrad` arguments.
    """

    def __init__(self, learning_rate=0.05, initial_accumulator_value=1.0, **kwargs):
        super().__init__(
            learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value,
            **kwargs,
        )

    def update_rows(self, table, ids, gradients, valid, learning_rate):
        steps = ops.cast(learning_rate, table.dtype) * gradients
        slot = adagrad_accumulator(self, table)
        accumulated = take(slot, ids)
        values = self.decayed_rows(table, take(table, ids), learning_rate)
        write_rows(table, ids, values - steps / ops.sqrt(accumulated), valid)
        write_rows(slot, ids, accumulated + ops.square(steps), valid)

    def update_distinct_rows(self, kernels, table, ids, gradients, learning_rate):
        self.update_rows(table, ids, gradients, ops.ones(ops.shape(ids), "bool"), learning_rate)


class _ShuffledPairs(keras.utils.PyDataset):
    """Batches of `((batch, 2) pairs, (batch,) counts)`, in a new random order each epoch.

    With `seed=False` the pairs keep their (row-major) order; None shuffles unseeded.
    """

    def __init__(self, cooccurrences, batch_size, seed):
        super().__init__()
        self.pairs = np.stack([cooccurrences.rows, cooccurrences.columns], axis=1)
        self.counts = cooccurrences.counts.astype(np.float32)
        self.batch_size = batch_size
        self.rng = None if seed is False else np.random.default_rng(seed)
        self.order = None
        self.on_epoch_end()

    def __len__(self):
        return -(-len(self.counts) // self.batch_size)

    def __getitem__(self, index):
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        chosen = batch if self.order is None else self.order[batch]
        return self.pairs[chosen], self.counts[chosen]

    def on_epoch_end(self):
        if self.rng is not None:
            self.order = self.rng.permutation(len(self.counts))


class _Throughput(keras.callbacks.Callback):
    """Adds `pairs_per_second` (and the epoch's seconds) to each epoch's logs."""

    def __init__(self, pairs):
        super().__init__()
        self.pairs = pairs

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        if logs is not None:
            logs["pairs_per_second"] = self.pairs / max(seconds, 1e-9)


def check_cooccurrences(cooccurrences, vocab_size):
    """`cooccurrences` as `Cooccurrences` of int32 ids in range and positive finite counts."""
    if not isinstance(cooccurrences, tuple) or len(cooccurrences) != 3:
        raise ValueError(
            "`cooccurrences` must be `Cooccurrences(rows, columns, counts)` (three arrays). "
            f"Received: cooccurrences={describe(cooccurrences)[:120]}."
        )
    rows, columns, counts = (np.asarray(part) for part in cooccurrences)
    if not (rows.ndim == columns.ndim == counts.ndim == 1 and len(rows) == len(columns) == len(counts)):
        raise ValueError(
            "`cooccurrences` must hold three 1-D arrays of one length. Received: shapes "
            f"{rows.shape}, {columns.shape} and {counts.shape}."
        )
    if not len(rows):
        raise ValueError("`cooccurrences` must hold at least one pair. Received: 0 pairs.")
    for name, ids in (("rows", rows), ("columns", columns)):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"`cooccurrences.{name}` must hold integer word ids. Received: dtype {ids.dtype}."
            )
        bad = np.flatnonzero((ids < 0) | (ids >= vocab_size))
        if len(bad):
            raise ValueError(
                f"`cooccurrences.{name}` must hold ids in [0, {vocab_size}). Received: "
                f"{int(ids[bad[0]])} at position {int(bad[0])}."
            )
    counts = counts.astype(np.float64)
    bad = np.flatnonzero(~(np.isfinite(counts) & (counts > 0)))
    if len(bad):
        raise ValueError(
            "`cooccurrences.counts` must hold positive finite counts. Received: "
            f"{counts[bad[0]]!r} at position {int(bad[0])}."
        )
    return Cooccurrences(rows.astype(np.int32), columns.astype(np.int32), counts)


@keras.saving.register_keras_serializable(package="keras_embed")
class GloVe(keras.Model):
    """GloVe word vectors (Pennington, Socher & Manning, 2014), trained as a Keras model.

    Counts the word-word co-occurrences `X` of a corpus once
    (`keras_embed.models.cooccurrence`: symmetric window, `1 / distance`
    weights, as GloVe's `cooccur`), then fits word vectors `w`, context
    vectors `w~` and biases `b`, `b~` to the weighted least squares

        J = sum_ij f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)**2 / 2,
        f(x) = min(1, (x / x_max) ** alpha),

    over the nonzero `X_ij`, visited in a new random order each epoch, with
    AdaGrad as the reference `glove.c` runs it (`GloVeAdagrad`). The tables are
    `keras_embed.layers.Embedding(sparse=True)` of width `vector_size + 1`
    (the bias is the last column, as in `glove.c`) with `glove.c`'s
    initialisation, uniform in `[-0.5, 0.5] / (vector_size + 1)`; a step
    updates only the rows of its pairs, on every backend. `.wv` holds
    `w + w~` (`glove.c`'s default output, `-model 2`).

    As gensim's models, the constructor trains when given a corpus. Defaults
    are the reference tools': `window=15`, `x_max=100`, `alpha=0.75`,
    `learning_rate=0.05`, `epochs=25`; `vector_size=100` is the paper's smaller
    size (`glove.c` defaults to 50) and `min_count=5` the reference demo's.
    The tables and the loss are float32 under every dtype policy: a
    per-pair dot product gains nothing from bfloat16, and its rounding would
    blur the fit of `log X`.

    Args:
        sentences: optional iterable of token lists to train on.
        corpus_file: optional text file, one sentence per line, tokens
            separated by whitespace, to train on.
        vocabulary: optional list of distinct words, most frequent first; given
            alone, it builds untrained tables (`train` then takes the corpus).
        vector_size: dimension of the word vectors. Defaults to 100.
        window: context words on each side. Defaults to 15.
        min_count: least occurrences for a word to be kept. Defaults to 5.
        max_vocab: most words kept (the most frequent), or None. Defaults to None.
        symmetric: count right contexts as well as left ones. Defaults to True.
        distance_weighting: a pair `d` words apart counts `1 / d` (else 1).
            Defaults to True.
        x_max: count from which a pair has full weight. Defaults to 100.
        alpha: exponent of the weighting below `x_max`. Defaults to 0.75.
        learning_rate: AdaGrad's initial learning rate. Defaults to 0.05.
        epochs: passes over the co-occurrences. Defaults to 25.
        batch_size: pairs per training step. Defaults to 512.
        seed: optional integer seed of the initialisation and the shuffling.
        verbose: Keras' progress display while training from the constructor:
            `"auto"`, 0, 1 or 2. Defaults to `"auto"`.
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        pairs: integer tensor `(batch, 2)` of `(word, context)` ids.
        training: whether the call is a training step (sparse table lookups).

    Returns:
        `(batch,)` float32 predictions `w_i . w~_j + b_i + b~_j` of `log X_ij`.

    Example:

    >>> sentences = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 20
    >>> model = GloVe(sentences, vector_size=8, window=2, min_count=1, epochs=3,
    ...               seed=0, verbose=0)
    >>> model.wv.matrix.shape
    (4, 8)
    >>> model.vocabulary
    ['sat', 'the', 'cat', 'dog']
    """

    def __init__(
        self,
        sentences=None,
        corpus_file=None,
        vocabulary=None,
        vector_size=100,
        window=15,
        min_count=5,
        max_vocab=None,
        symmetric=True,
        distance_weighting=True,
        x_max=100.0,
        alpha=0.75,
        learning_rate=0.05,
        epochs=25,
        batch_size=512,
        seed=None,
        verbose="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vector_size = check_positive_int("vector_size", vector_size)
        self.window = check_positive_int("window", window)
        self.min_count = check_positive_int("min_count", min_count)
        self.max_vocab = check_positive_int("max_vocab", max_vocab, allow_none=True)
        self.symmetric = check_bool("symmetric", symmetric)
        self.distance_weighting = check_bool("distance_weighting", distance_weighting)
        self.x_max = check_number("x_max", x_max, sign="positive", finite=True)
        self.alpha = check_number("alpha", alpha, sign="positive", finite=True)
        self.learning_rate = check_number("learning_rate", learning_rate, "positive", True)
        self.epochs = check_positive_int("epochs", epochs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = check_integer("seed", seed, allow_none=True)
        self.vocabulary = None
        self.word_counts = None
        self.cooccurrences = None
        self._wv = None
        if vocabulary is not None:
            self._build_tables(vocabulary)
        if sentences is not None or corpus_file is not None:
            self.fit_corpus(sentences=sentences, corpus_file=corpus_file, verbose=verbose)

    def _build_tables(self, vocabulary):
        vocabulary = check_word_list("vocabulary", vocabulary)
        self.vocabulary = vocabulary
        width = self.vector_size + 1
        seeds = (None, None) if self.seed is None else (self.seed, self.seed + 1)
        tables = []
        for name, seed in zip(("word_embeddings", "context_embeddings"), seeds):
            table = Embedding(
                len(vocabulary), width,
                embeddings_initializer=keras.initializers.RandomUniform(
                    -0.5 / width, 0.5 / width, seed=seed
                ),
                sparse=True, sparse_capacity=self.batch_size, dtype="float32", name=name,
            )
            table.build((self.batch_size,))
            tables.append(table)
        self.word_embeddings, self.context_embeddings = tables
        self.built = True

    def build(self, input_shape=None):
        # Tables exist once the vocabulary is known (constructor or `train`).
        self.built = True

    def call(self, pairs, training=None):
        if self.vocabulary is None:
            raise ValueError(
                "This GloVe model has no vocabulary yet: give `sentences`, `corpus_file` or "
                "`vocabulary` to the constructor, or call `fit_corpus(...)` first."
            )
        pairs = ops.cast(pairs, "int32")
        words = ops.cast(self.word_embeddings(pairs[..., 0]), "float32")
        contexts = ops.cast(self.context_embeddings(pairs[..., 1]), "float32")
        d = self.vector_size
        dots = ops.sum(words[..., :d] * contexts[..., :d], axis=-1)
        return dots + words[..., d] + contexts[..., d]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, pairs):
        return keras.KerasTensor(tuple(pairs.shape[:-1]), dtype="float32")

    def build_vocab(self, sentences=None, corpus_file=None):
        """Read the corpus once; keep its vocabulary, its co-occurrences and new tables.

        Returns the `TokenizedCorpus` read.
        """
        if self.vocabulary is not None:
            raise ValueError(
                "This GloVe model already has a vocabulary of "
                f"{len(self.vocabulary)} words; build a new model for a new vocabulary."
            )
        corpus = TokenizedCorpus(_one_pass_corpus(sentences, corpus_file))
        vocabulary, self.word_counts = build_vocabulary(
            corpus.words, corpus.counts, self.min_count, self.max_vocab
        )
        self._build_tables(vocabulary)
        return corpus

    def count_cooccurrences(self, sentences=None, corpus_file=None, corpus=None):
        """The corpus' `Cooccurrences` over this model's vocabulary (kept as `.cooccurrences`)."""
        if corpus is None:
            corpus = TokenizedCorpus(_one_pass_corpus(sentences, corpus_file))
        self.cooccurrences = corpus_cooccurrences(
            corpus, self.vocabulary, self.window, self.symmetric, self.distance_weighting
        )
        return self.cooccurrences

    def fit_corpus(
        self, sentences=None, corpus_file=None, cooccurrences=None, epochs=None, shuffle=True,
        verbose="auto", callbacks=None,
    ):
        """Count co-occurrences (unless given) and fit the vectors to them.

        Args:
            sentences, corpus_file: the corpus (one of them), as in the
                constructor; without a vocabulary yet, it is built from it.
            cooccurrences: instead of a corpus, `Cooccurrences` over this
                model's vocabulary (e.g. `model.cooccurrences` of an earlier run).
            epochs: passes over the co-occurrences; defaults to the model's.
            shuffle: visit the pairs in a new random order each epoch (else
                in row-major order). Defaults to True.
            verbose: Keras' progress display: `"auto"`, 0, 1 or 2.
            callbacks: optional extra Keras callbacks.

        Returns:
            A dict of per-epoch lists: `loss` (summed over each batch, averaged
            over batches), `cost` (mean weighted squared error per pair) and
            `pairs_per_second`.

        Raises:
            FloatingPointError: if the cost became NaN or infinite (a learning
                rate too high for the counts).
        """
        epochs = self.epochs if epochs is None else check_positive_int("epochs", epochs)
        check_bool("shuffle", shuffle)
        if cooccurrences is None:
            corpus = None
            if self.vocabulary is None:
                corpus = self.build_vocab(sentences, corpus_file)
            cooccurrences = self.count_cooccurrences(sentences, corpus_file, corpus)
            if not len(cooccurrences.counts):
                raise ValueError(
                    "The corpus has no pair of vocabulary words within `window`="
                    f"{self.window} of each other, so GloVe has nothing to fit. Give longer "
                    "sentences, a larger corpus or a lower `min_count`."
                )
        elif self.vocabulary is None:
            raise ValueError(
                "`cooccurrences` index a vocabulary: build the model with `vocabulary=` first."
            )
        cooccurrences = check_cooccurrences(cooccurrences, len(self.vocabulary))
        if not getattr(self, "compiled", False):
            self.compile(
                optimizer=GloVeAdagrad(self.learning_rate),
                loss=GloVeLoss(self.x_max, self.alpha),
                metrics=[GloVeCost(self.x_max, self.alpha)],
            )
        batches = _ShuffledPairs(cooccurrences, self.batch_size, self.seed if shuffle else False)
        callbacks = [_Throughput(len(cooccurrences.counts))] + list(callbacks or [])
        history = self.fit(
            batches, epochs=epochs, shuffle=False, verbose=verbose, callbacks=callbacks
        ).history
        self._wv = None
        if not all(np.isfinite(history["cost"])):
            raise FloatingPointError(
                f"GloVe training diverged: the cost per pair reached {history['cost'][-1]} "
                f"with `learning_rate`={self.learning_rate}. Lower `learning_rate` (the "
                "reference uses 0.05) or `x_max`, and train a new model."
            )
        return history

    def embedding_matrix(self, kind="sum"):
        """The vectors as a float32 numpy array `(vocab_size, vector_size)`.

        Args:
            kind: `"sum"` for `w + w~` (`glove.c`'s `-model 2`), `"word"` for
                `w` (`-model 1`), `"context"` for `w~`.
        """
        check_choice("kind", kind, VECTOR_KINDS)
        if self.vocabulary is None:
            raise ValueError("This GloVe model has no vocabulary yet: train it first.")
        d = self.vector_size
        word = ops.convert_to_numpy(self.word_embeddings.embeddings)[:, :d]
        context = ops.convert_to_numpy(self.context_embeddings.embeddings)[:, :d]
        matrix = {"sum": lambda: word + context, "word": lambda: word,
                  "context": lambda: context}[kind]()
        return np.asarray(matrix, dtype=np.float32)

    @property
    def wv(self):
        """`keras_embed.vectors.Vectors` of `w + w~` for the vocabulary."""
        if self._wv is None:
            self._wv = Vectors(self.vocabulary, self.embedding_matrix("sum"))
        return self._wv

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._wv = None

    def get_config(self):
        return {**super().get_config(), **constructor_config(self, _CONFIG_ARGUMENTS)}
