"""`Word2Vec`: skip-gram and CBOW word vectors, negative sampling and hierarchical softmax."""

import time

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_integer
from keras_embed._validation import check_number
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.losses.alias_sampler import AliasSampler
from keras_embed.models import _corpus
from keras_embed.models import _word_corpus
from keras_embed.models._model_config import constructor_config
from keras_embed.ops import _backend
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.huffman import huffman_tree
from keras_embed.ops.logistic_targets import logistic_target_gradients
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows

# Steps per compiled call (one dispatch on JAX), and calls between two readings of the loss
# (each reading waits for the device).
_STEPS_PER_BLOCK = 32
_BLOCKS_PER_REPORT = 4


# Constructor arguments kept in the config, the vocabulary with its counts last.
_CONFIG_ARGUMENTS = (
    "vector_size", "alpha", "window", "min_count", "sample", "seed", "workers", "min_alpha", "sg",
    "hs", "negative", "ns_exponent", "cbow_mean", "epochs", "shrink_windows", "batch_size",
    "vocabulary", "word_counts",
)


def _check_flag(name, value):
    """gensim's 0/1 switches (`sg`, `hs`, `cbow_mean`, ...), bools accepted, as an int."""
    if isinstance(value, bool):
        return int(value)
    return check_integer(name, value, minimum=0, maximum=1, expected="0 or 1 (or a bool)")


@keras.saving.register_keras_serializable(package="keras_embed")
class Word2Vec(keras.Model):
    """Word2Vec word vectors (Mikolov et al., 2013), trained as gensim 4 trains them.

    Arguments, defaults and training rules follow `gensim.models.Word2Vec`:
    skip-gram (`sg=1`) or CBOW (`sg=0`; the mean of the context vectors with
    `cbow_mean=1`, else their sum), negative sampling with `negative` noise
    words drawn from the unigram distribution raised to `ns_exponent`
    (`negative=0` for none) and/or hierarchical softmax over word2vec's
    Huffman tree (`hs=1`); frequent-word subsampling (`sample`), a reduced
    window drawn for every word (`shrink_windows`), and a learning rate
    falling linearly from `alpha` to `min_alpha` over all epochs. Training
    runs in compiled steps of `batch_size` examples (a skip-gram example is
    one (word, neighbour) pair, a CBOW example one word and its window),
    each an SGD step that reads and writes only the table rows the batch
    touches; gradients of a row used several times in a batch add up. The
    noise words are drawn on the host (numpy, from the alias table) while the
    previous block of steps runs, which keeps the random-number generator off
    the compiled step's critical path.

    Given a corpus, the constructor builds the vocabulary and trains at once
    (as gensim's does); otherwise call `build_vocab` and `train`. The model
    is a Keras model: its tables are its weights (`input_embeddings`,
    `output_embeddings` for negative sampling, `node_embeddings` for
    hierarchical softmax), it saves to and loads from `.keras` files with its
    vocabulary, and calling it on word ids returns their vectors.

    Args:
        sentences: optional re-iterable of sentences, each a list of string tokens.
        corpus_file: optional path of a text file, one sentence per line,
            tokens separated by whitespace (instead of `sentences`).
        vector_size: dimension of the word vectors. Defaults to 100.
        alpha: initial learning rate. Defaults to 0.025.
        window: largest distance between a word and a neighbour. Defaults to 5.
        min_count: words seen fewer times are dropped. Defaults to 5.
        sample: subsampling threshold of frequent words; 0 for none.
            Defaults to 1e-3.
        seed: seed of the initial vectors and of every random draw. Defaults to 1.
        workers: accepted for gensim compatibility; the compiled steps use the
            backend's own threads. Defaults to 3.
        min_alpha: final learning rate. Defaults to 0.0001.
        sg: 1 for skip-gram, 0 for CBOW. Defaults to 0.
        hs: 1 for hierarchical softmax. Defaults to 0.
        negative: noise words per example; 0 for no negative sampling.
            Defaults to 5.
        ns_exponent: exponent of the noise distribution. Defaults to 0.75.
        cbow_mean: 1 to average the context vectors in CBOW, 0 to sum them.
            Defaults to 1.
        epochs: passes over the corpus. Defaults to 5.
        shrink_windows: draw a reduced window for each word. Defaults to True.
        batch_size: examples per training step. Defaults to 256.
        vocabulary: optional list of the words (most frequent first), with
            `word_counts`; set by `build_vocab` and kept in the config.
        word_counts: optional list of the words' counts in the corpus.
        verbose: 0 for silence, 1 for a progress bar, 2 for a line per epoch.
        **kwargs: `keras.Model` arguments (`name`, `dtype`).

    Call arguments:
        ids: integer tensor `(...)` of word ids (rows of `vocabulary`).

    Returns:
        The words' input vectors, shape `(..., vector_size)`.

    Example:

    >>> sentences = [["cat", "sat", "on", "the", "mat"], ["dog", "sat", "on", "the", "log"]] * 20
    >>> model = Word2Vec(sentences, vector_size=8, min_count=1, sg=1, epochs=2, verbose=0)
    >>> model.wv["cat"].shape
    (8,)
    >>> model.wv.most_similar("cat", topn=1)[0][0] in model.wv
    True
    """

    def __init__(
        self,
        sentences=None,
        corpus_file=None,
        vector_size=100,
        alpha=0.025,
        window=5,
        min_count=5,
        sample=1e-3,
        seed=1,
        workers=3,
        min_alpha=0.0001,
        sg=0,
        hs=0,
        negative=5,
        ns_exponent=0.75,
        cbow_mean=1,
        epochs=5,
        shrink_windows=True,
        batch_size=256,
        vocabulary=None,
        word_counts=None,
        verbose=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vector_size = check_positive_int("vector_size", vector_size)
        self.alpha = check_number("alpha", alpha, sign="positive", finite=True)
        self.window = check_positive_int("window", window)
        self.min_count = check_positive_int("min_count", min_count)
        self.sample = check_number("sample", sample, sign="non-negative", finite=True)
        self.seed = check_integer("seed", seed)
        self.workers = check_positive_int("workers", workers)
        self.min_alpha = check_number("min_alpha", min_alpha, sign="non-negative", finite=True)
        self.sg = _check_flag("sg", sg)
        self.hs = _check_flag("hs", hs)
        self.negative = check_integer("negative", negative, minimum=0)
        self.ns_exponent = check_number("ns_exponent", ns_exponent, finite=True)
        self.cbow_mean = _check_flag("cbow_mean", cbow_mean)
        self.epochs = check_positive_int("epochs", epochs)
        self.shrink_windows = bool(_check_flag("shrink_windows", shrink_windows))
        self.batch_size = check_positive_int("batch_size", batch_size)
        if not self.hs and not self.negative:
            raise ValueError(
                "Training needs an objective: pass `hs=1` or `negative` > 0. "
                f"Received: hs={hs!r}, negative={negative!r}."
            )
        self.vocabulary = None
        self.word_counts = None
        self._vectors = None
        # No longer drawn from (noise words come from `_noise_generator`); kept so that the
        # model's variables, and so its `.keras` files, stay as they were.
        self._seed_generator = keras.random.SeedGenerator(self.seed)
        self._noise_generator = np.random.default_rng([self.seed, 1])
        if vocabulary is not None:
            self._set_vocabulary(vocabulary, word_counts)
        if sentences is not None or corpus_file is not None:
            self.build_vocab(sentences=sentences, corpus_file=corpus_file)
            self.train(sentences=sentences, corpus_file=corpus_file, verbose=verbose)

    # --- vocabulary and tables ---------------------------------------------------------

    def build_vocab(self, sentences=None, corpus_file=None):
        """Count the corpus' words, keep those seen `min_count` times, and create the tables."""
        if self.vocabulary is not None:
            raise ValueError(
                "This model's vocabulary is already built; create a new model for another corpus."
            )
        corpus = _corpus.corpus_of(sentences, corpus_file)
        words, counts = _word_corpus.vocabulary_of(_word_corpus.count_words(corpus), self.min_count)
        self._set_vocabulary(words, counts)

    def _set_vocabulary(self, words, counts):
        if counts is None or len(counts) != len(words):
            raise ValueError(
                "`vocabulary` and `word_counts` must be given together, one count per word. "
                f"Received: {len(words)} words and word_counts={describe(counts)}."
            )
        if not all(isinstance(word, str) for word in words) or len(set(words)) != len(words):
            raise ValueError("`vocabulary` must be a list of distinct strings.")
        if not all(is_integer(count) and count > 0 for count in counts):
            raise ValueError("`word_counts` must hold positive integers, one per word.")
        if self.hs and len(words) < 2:
            raise ValueError(
                "Hierarchical softmax (`hs=1`) needs at least 2 words in the vocabulary. "
                f"Received: a vocabulary of {len(words)} word(s)."
            )
        self.vocabulary = list(words)
        self.word_counts = np.asarray(counts, dtype=np.int64)
        self._index = {word: row for row, word in enumerate(self.vocabulary)}
        self._create_tables()
        self.built = True

    def _input_rows_count(self):
        return len(self.vocabulary)

    def _create_tables(self):
        size = len(self.vocabulary)
        bound = 1.0 / self.vector_size
        # gensim's start: inputs uniform in [-1/d, 1/d], output tables zero.
        self.input_embeddings = self.add_weight(
            shape=(self._input_rows_count(), self.vector_size),
            initializer=keras.initializers.RandomUniform(-bound, bound, seed=self.seed),
            name="input_embeddings",
        )
        self.output_embeddings = None
        self.node_embeddings = None
        if self.negative:
            self.output_embeddings = self.add_weight(
                shape=(size, self.vector_size), initializer="zeros", name="output_embeddings"
            )
        if self.hs:
            self.node_embeddings = self.add_weight(
                shape=(size - 1, self.vector_size), initializer="zeros", name="node_embeddings"
            )

    def _subword_rows(self):
        """`(V, s)` input-table rows whose mean is each word's input vector (-1 pads), or None: its own row."""
        return None

    def _training_tables(self):
        """The constant tensors a training step reads, by name."""
        tables = {}
        subwords = self._subword_rows()
        if subwords is not None:
            tables["subword_rows"] = subwords
        if self.hs:
            codes, points, lengths = huffman_tree(self.word_counts)
            tables.update(codes=codes, points=points, lengths=lengths)
        return {name: ops.convert_to_tensor(value) for name, value in tables.items()}

    # --- training ----------------------------------------------------------------------

    def _input_vectors_and_rows(self, words, subword_rows):
        """Input vectors `(batch, d)` of examples' input words `(batch, c)` (-1 pads), with their rows.

        Returns `(hidden, rows, weights)`: `rows` `(batch, r)` of the input table
        (0 where padding) and `weights` `(batch, r)` float32, 1 for a real row.
        """
        rows = words
        if subword_rows is not None:
            rows = ops.take(subword_rows, ops.maximum(words, 0), axis=0)  # (batch, c, s)
            rows = ops.where(ops.expand_dims(words >= 0, -1), rows, -1)
            rows = ops.reshape(rows, (ops.shape(words)[0], -1))
        present = rows >= 0
        rows = ops.where(present, rows, 0)
        weights = ops.cast(present, "float32")
        gathered = ops.cast(_backend.take(self.input_embeddings, rows), "float32")  # (batch, r, d)
        hidden = ops.einsum("br,brd->bd", weights, gathered)
        if self.sg or self.cbow_mean:
            hidden = hidden / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1.0)
        return hidden, rows, weights

    def _noise_drawer(self):
        """`draw(shape) -> (*shape, negative)` int32 noise words, from the counts to the power `ns_exponent`."""
        if not self.negative:
            return lambda shape: np.zeros((*shape, 0), dtype=np.int32)
        sampler = AliasSampler(self.word_counts, power=self.ns_exponent)
        return lambda shape: sampler.sample((*shape, self.negative), self._noise_generator).astype(np.int32)

    def _objective_updates(self, hidden, outputs, noise, alpha, tables):
        """Negative sampling and/or hierarchical softmax on `hidden` `(batch, d)`, output tables stepped.

        Returns `(losses (batch,), hidden_gradient (batch, d))`; padding
        examples (`outputs` -1) add nothing.
        """
        dim = self.vector_size
        valid = outputs >= 0
        outputs = ops.where(valid, outputs, 0)
        valid = ops.expand_dims(ops.cast(valid, "float32"), -1)  # (batch, 1)
        batch = ops.shape(outputs)[0]
        losses = ops.zeros((batch,), "float32")
        hidden_gradient = ops.zeros_like(hidden)
        objectives = []
        if self.negative:
            targets = ops.concatenate([ops.expand_dims(outputs, -1), noise], axis=1)
            labels = ops.concatenate(
                [ops.ones((batch, 1), "float32"), ops.zeros((batch, self.negative), "float32")],
                axis=1,
            )
            # gensim skips a noise word that is the word to predict.
            mask = ops.where(ops.equal(targets, ops.expand_dims(outputs, -1)), 0.0, 1.0)
            mask = ops.concatenate([ops.ones((batch, 1), "float32"), mask[:, 1:]], axis=1)
            objectives.append((self.output_embeddings, targets, labels, mask * valid))
        if self.hs:
            targets = ops.take(tables["points"], outputs, axis=0)
            labels = 1.0 - ops.cast(ops.take(tables["codes"], outputs, axis=0), "float32")
            depth = ops.shape(targets)[1]
            lengths = ops.take(tables["lengths"], outputs, axis=0)
            mask = ops.cast(ops.arange(depth)[None, :] < lengths[:, None], "float32")
            objectives.append((self.node_embeddings, targets, labels, mask * valid))
        for table, targets, labels, mask in objectives:
            target_rows = _backend.take(table, targets)
            loss, input_gradient, target_gradients = logistic_target_gradients(
                hidden, target_rows, labels, mask
            )
            losses = losses + loss
            hidden_gradient = hidden_gradient + input_gradient
            _backend.scatter_add_rows(
                table, ops.reshape(targets, (-1,)),
                ops.reshape(target_gradients * -alpha, (-1, dim)),
            )
        return losses, hidden_gradient

    def _training_step(self):
        """`step(inputs, outputs, noise, alpha, tables) -> summed loss`: one SGD step on a batch.

        `inputs` `(batch, c)` int32 input words, `outputs` `(batch,)` int32 words
        to predict (-1: padding), `noise` `(batch, negative)` int32 noise words.
        """
        dim = self.vector_size

        def step(inputs, outputs, noise, alpha, tables):
            hidden, rows, weights = self._input_vectors_and_rows(inputs, tables.get("subword_rows"))
            losses, hidden_gradient = self._objective_updates(hidden, outputs, noise, alpha, tables)
            # Each input row gets the hidden vector's whole step (gensim, fastText), a sum's share when summed.
            if not (self.sg or self.cbow_mean):
                weights = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1.0)
            row_steps = ops.expand_dims(hidden_gradient * -alpha, 1) * ops.expand_dims(weights, -1)
            _backend.scatter_add_rows(
                self.input_embeddings, ops.reshape(rows, (-1,)), ops.reshape(row_steps, (-1, dim))
            )
            return ops.sum(losses)

        return step

    def _packed_training_step(self):
        """`step(rows, owners, outputs, noise, alpha, tables) -> summed loss`: `_training_step` on packed rows.

        `rows` `(r,)` int32 input-table rows of the batch's examples end to end
        and `owners` `(r,)` the example of each (-1: padding), as
        `_word_corpus.packed_batches` lays them out; the same step as
        `_training_step` on those examples.
        """

        def step(rows, owners, outputs, noise, alpha, tables):
            batch = ops.shape(outputs)[0]
            present = owners >= 0
            rows, owners = ops.where(present, rows, 0), ops.where(present, owners, 0)
            weights = ops.cast(present, "float32")
            gathered = ops.cast(_backend.take(self.input_embeddings, rows), "float32")
            hidden = ops.segment_sum(gathered * weights[:, None], owners, num_segments=batch)
            counts = ops.maximum(ops.segment_sum(weights, owners, num_segments=batch), 1.0)
            if self.sg or self.cbow_mean:
                hidden = hidden / counts[:, None]
            losses, hidden_gradient = self._objective_updates(hidden, outputs, noise, alpha, tables)
            # As in `_training_step`: each row gets its example's whole step, a sum's share when summed.
            if not (self.sg or self.cbow_mean):
                weights = weights / ops.take(counts, owners, axis=0)
            row_steps = ops.take(hidden_gradient * -alpha, owners, axis=0) * weights[:, None]
            _backend.scatter_add_rows(self.input_embeddings, rows, row_steps)
            return ops.sum(losses)

        return step

    def _row_packing(self, keep):
        """`(word_rows, row_budget)` for training on packed rows (`_packed_training_step`), or None.

        Only for input words of several rows (fastText). The budget is 1.25
        times the mean rows of `batch_size` examples (words weighted by their
        counts times `keep`, their probabilities of staying after subsampling),
        and at least the rows of the longest possible example.
        """
        word_rows = self._subword_rows()
        if word_rows is None:
            return None
        word_rows = np.asarray(word_rows)
        rows_per_word = np.count_nonzero(word_rows >= 0, axis=1)
        kept = self.word_counts * keep
        words_per_example = 1 if self.sg else self.window + 1  # a CBOW window's mean size
        mean_rows = float(np.sum(rows_per_word * kept) / np.sum(kept)) * words_per_example
        longest = int(rows_per_word.max()) * (1 if self.sg else 2 * self.window)
        budget = max(int(np.ceil(1.25 * mean_rows * self.batch_size)), longest)
        return word_rows, -(-budget // 64) * 64

    def _step_variables(self):
        return [self.input_embeddings] + [
            table for table in (self.output_embeddings, self.node_embeddings) if table is not None
        ]

    def _compiled_step(self):
        """`step(inputs, outputs, alpha, noise=None) -> summed loss` on numpy batches, compiled.

        `noise` `(batch, negative)`: the noise words; drawn here when None.
        """
        tables, draw_noise = self._training_tables(), self._noise_drawer()
        compiled = _backend.compile_variable_updates(self._training_step(), self._step_variables())

        def step(inputs, outputs, alpha, noise=None):
            outputs = np.asarray(outputs, dtype=np.int32)
            if noise is None:
                noise = draw_noise(outputs.shape)
            return compiled(
                ops.convert_to_tensor(np.asarray(inputs, dtype=np.int32)),
                ops.convert_to_tensor(outputs),
                ops.convert_to_tensor(np.asarray(noise, dtype=np.int32)),
                ops.convert_to_tensor(np.float32(alpha)),
                tables,
            )

        return step

    def _compiled_block(self, packed=False):
        """`run(*arrays, alphas (s,), noise=None) -> summed loss`: `s` steps in order, compiled.

        `arrays` are `(s, ...)` stacks of a step's batch: `inputs (s, batch, c)`
        and `outputs (s, batch)`, or with `packed` `rows (s, r)`, `owners (s, r)`
        and `outputs (s, batch)`. `noise` `(s, batch, negative)` is drawn here when None.
        """
        tables, draw_noise = self._training_tables(), self._noise_drawer()
        step = self._packed_training_step() if packed else self._training_step()
        compiled = _backend.compile_variable_update_loop(step, self._step_variables())

        def run(*arrays, noise=None):
            *arrays, alphas = arrays
            arrays = [np.asarray(array, dtype=np.int32) for array in arrays]
            if noise is None:
                noise = draw_noise(arrays[-1].shape)
            blocks = (*arrays, np.asarray(noise, dtype=np.int32), np.asarray(alphas, dtype=np.float32))
            return compiled(blocks, tables)

        return run

    def train(self, sentences=None, corpus_file=None, epochs=None, verbose=1):
        """Train on a corpus (the one the vocabulary came from, or another).

        Args:
            sentences, corpus_file: the corpus, as in the constructor.
            epochs: passes over it; defaults to the model's `epochs`.
            verbose: 0 for silence, 1 for a progress bar, 2 for a line per epoch.

        Returns:
            A dict: `loss` (mean loss per example, one per epoch), `words`
            (corpus words read), `seconds` and `words_per_second`.
        """
        if isinstance(sentences, bool) and hasattr(super(), "train"):
            # PyTorch's `Module.eval()` (which keras' predict calls) is `train(False)`:
            # a mode switch, not a corpus.
            return super().train(sentences)
        if self.vocabulary is None:
            raise ValueError("Call `build_vocab` (or pass a corpus to the constructor) before `train`.")
        epochs = self.epochs if epochs is None else check_positive_int("epochs", epochs)
        verbose = check_integer("verbose", verbose, minimum=0, maximum=2)
        corpus = _corpus.corpus_of(sentences, corpus_file)
        ids, sentence_ends = _word_corpus.encode_corpus(corpus, self._index)
        if not ids.size:
            raise ValueError(
                "The corpus holds no word of the model's vocabulary, so there is nothing to train on."
            )
        keep = _word_corpus.keep_probabilities(self.word_counts, self.sample)
        packing = self._row_packing(keep)
        run_block = self._compiled_block(packed=packing is not None)
        rng = np.random.default_rng(self.seed)
        width = 1 if self.sg else 2 * self.window
        total = ids.size * epochs
        progress = keras.utils.Progbar(
            total, verbose=int(verbose == 1), unit_name="word", stateful_metrics=("loss", "words/s")
        )
        epoch_losses, start = [], time.perf_counter()
        for epoch in range(epochs):
            examples = _word_corpus.epoch_examples(
                ids, sentence_ends, keep, self.window, not self.sg, rng, self.shrink_windows
            )
            if packing is None:
                batches = _word_corpus.batches(examples, self.batch_size, width)
            else:
                batches = _word_corpus.packed_batches(examples, self.batch_size, *packing)
            pending, loss_sum, example_count = [], 0.0, 0
            for *arrays, done in _word_corpus.blocks(batches, _STEPS_PER_BLOCK):
                outputs = arrays[-1]
                alphas = _word_corpus.learning_rate(
                    self.alpha, self.min_alpha, (epoch + done / ids.size) / epochs
                )
                pending.append(run_block(*arrays, alphas))
                example_count += int(np.count_nonzero(outputs >= 0))
                if len(pending) == 2 * _BLOCKS_PER_REPORT:
                    # Read the older half only, so that the device still has blocks queued.
                    ready, pending = pending[:_BLOCKS_PER_REPORT], pending[_BLOCKS_PER_REPORT:]
                    loss_sum += float(sum(float(ops.convert_to_numpy(x)) for x in ready))
                    seconds = time.perf_counter() - start
                    words = epoch * ids.size + int(done[-1])
                    progress.update(words, [("loss", loss_sum / max(example_count, 1)),
                                            ("words/s", words / seconds)])
            loss_sum += float(sum(float(ops.convert_to_numpy(x)) for x in pending))
            epoch_losses.append(loss_sum / max(example_count, 1))
            seconds = time.perf_counter() - start
            speed = (epoch + 1) * ids.size / seconds
            progress.update((epoch + 1) * ids.size, [("loss", epoch_losses[-1]), ("words/s", speed)])
            if verbose == 2:
                print(f"epoch {epoch + 1}/{epochs}: loss {epoch_losses[-1]:.4f}, {speed:,.0f} words/s")
        self._vectors = None
        seconds = time.perf_counter() - start
        return {"loss": epoch_losses, "words": total, "seconds": seconds,
                "words_per_second": total / seconds}

    # --- vectors -----------------------------------------------------------------------

    @property
    def wv(self):
        """The trained word vectors as `keras_embed.vectors.Vectors` (gensim's `model.wv`)."""
        if self.vocabulary is None:
            raise ValueError("The model has no vocabulary yet: build it (and train) first.")
        if self._vectors is None:
            self._vectors = self._make_vectors()
        return self._vectors

    def _input_table(self):
        return np.asarray(ops.convert_to_numpy(self.input_embeddings), dtype=np.float32)

    def _make_vectors(self):
        from keras_embed.vectors import Vectors

        return Vectors(self.vocabulary, self._input_table()[: len(self.vocabulary)])

    def call(self, ids):
        what = table_rows("vocabulary", len(self.vocabulary) if self.vocabulary else 0)
        table = ops.convert_to_tensor(self.input_embeddings)
        return lookup_rows(table, integer_ids("ids", ids), "ids", what)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.vector_size,)

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._vectors = None

    def get_config(self):
        return {**super().get_config(), **constructor_config(self, _CONFIG_ARGUMENTS)}
