"""`keras-embed demo`: pretrain a small masked language model on stdlib docstrings.

Everything runs offline: the corpus is the docstrings of the installed Python standard
library, the tokenizer is built from it, and the model uses our layers for every
embedding part (tied `ReversibleEmbedding`, `RotaryEmbedding` in attention, tied
`MaskedLMHead`, `MaskedLMMaskGenerator`).
"""

import math
import os
import time
import warnings

import keras
import numpy as np

from keras_embed.demo.corpus import MASK_ID
from keras_embed.demo.corpus import PAD_ID
from keras_embed.demo.corpus import RESERVED_IDS
from keras_embed.demo.corpus import SEP_ID
from keras_embed.demo.corpus import UNK_ID
from keras_embed.demo.corpus import prepare_demo_data
from keras_embed.demo.corpus import unigram_baseline_accuracy
from keras_embed.demo.model import FusedLossTrainer
from keras_embed.demo.model import build_masked_lm
from keras_embed.layers import MaskedLMMaskGenerator
from keras_embed.vectors import Vectors

SEQUENCE_LENGTH = 64
MASK_RATE = 0.15
NEIGHBOUR_WORDS = ("list", "file", "thread", "return", "error")


class MaskedBatches(keras.utils.PyDataset):
    """Freshly masked batches of packed sequences: BERT's dynamic masking."""

    def __init__(self, sequences, masker, batch_size, seed):
        super().__init__()
        self.sequences = sequences
        self.masker = masker
        self.batch_size = batch_size
        self.order = np.random.default_rng(seed).permutation(len(sequences))

    def __len__(self):
        return len(self.sequences) // self.batch_size

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return masked_inputs(self.masker, self.sequences[rows])

    def on_epoch_end(self):
        np.random.default_rng(len(self.order) + int(self.order[0])).shuffle(self.order)


def masked_inputs(masker, sequences):
    """`((token_ids, mask_positions), mask_ids, mask_weights)` as numpy, ready for `fit`."""
    masked = {k: keras.ops.convert_to_numpy(v) for k, v in masker(sequences).items()}
    return (
        (masked["token_ids"], masked["mask_positions"]),
        masked["mask_ids"],
        masked["mask_weights"],
    )


class TrainingBudget(keras.callbacks.Callback):
    """Stops `fit` after `max_steps` batches or `max_seconds`, recording every batch loss.

    With `verbose`, it draws one progress bar over the whole budget (steps when
    `max_steps` is given, else seconds), in place of keras' per-epoch bars.
    """

    def __init__(self, max_steps=None, max_seconds=None, verbose=0):
        super().__init__()
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.verbose = verbose
        self.losses = []
        self.progress = None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
        if self.verbose:
            target = self.max_steps if self.max_steps is not None else round(self.max_seconds)
            unit = "step" if self.max_steps is not None else "s"
            self.progress = keras.utils.Progbar(target, verbose=self.verbose, unit_name=unit)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        # Keras logs the running mean over the epoch; undo it to get this batch's loss.
        mean = float(logs["loss"])
        self.losses.append((batch + 1) * mean - batch * self.epoch_mean)
        self.epoch_mean = mean
        out_of_steps = self.max_steps is not None and len(self.losses) >= self.max_steps
        elapsed = time.perf_counter() - self.started
        out_of_time = self.max_seconds is not None and elapsed >= self.max_seconds
        if self.progress is not None:
            done = len(self.losses) if self.max_steps is not None else min(elapsed, self.max_seconds)
            self.progress.update(
                round(done), values=[("loss", self.losses[-1])], finalize=out_of_steps or out_of_time
            )
        if out_of_steps or out_of_time:
            self.model.stop_training = True


def cosine_neighbours(table, tokens, words, count=5, excluded_ids=RESERVED_IDS):
    """The `count` tokens nearest each of `words` by cosine in `table`, reserved ids left out.

    Args:
        table: `(vocabulary, hidden)` embedding table.
        tokens: the token of each row.
        words: the query tokens; those not in `tokens` are skipped.

    Returns:
        Dict from each query word found to its neighbours, nearest first.
    """
    kept = [row for row in range(len(table)) if row not in set(excluded_ids)]
    vectors = Vectors([tokens[row] for row in kept], table[kept])
    found = [word for word in words if word in vectors]
    neighbours = vectors.neighbors(found, topn=count) if found else []
    return {word: [token for token, _ in pairs] for word, pairs in zip(found, neighbours)}


def fill_in_the_blank_examples(sentences, tokenizer, count=4, min_words=6, max_words=14):
    """A few held-out sentences with one known, non-trivial word chosen as the blank."""
    examples = []
    for sentence in sentences:
        ids = tokenizer.encode(sentence)
        if not min_words <= len(ids) <= max_words or UNK_ID in ids:
            continue
        words = [(i, t) for i, t in enumerate(ids) if tokenizer.id_to_token(t).isalpha()]
        candidates = [(i, t) for i, t in words if len(tokenizer.id_to_token(t)) > 3]
        if not candidates:
            continue
        position, token_id = candidates[len(candidates) // 2]
        examples.append((ids, position, token_id))
        if len(examples) == count:
            break
    return examples


def predict_blanks(model, tokenizer, examples, top=5):
    lines = []
    for ids, position, token_id in examples:
        masked = list(ids)
        masked[position] = MASK_ID
        token_ids = np.zeros((1, SEQUENCE_LENGTH), "int32")
        token_ids[0, : len(masked)] = masked
        logits = keras.ops.convert_to_numpy(
            model.predict_on_batch((token_ids, np.array([[position]], "int32")))
        )[0, 0]
        logits[list(RESERVED_IDS)] = -np.inf
        guesses = [tokenizer.id_to_token(int(i)) for i in np.argsort(-logits)[:top]]
        shown = " ".join("____" if i == position else tokenizer.id_to_token(t) for i, t in enumerate(ids))
        lines.append(
            f"  {shown}\n    truth: {tokenizer.id_to_token(token_id)!r:<14} "
            f"model's top {top}: {', '.join(guesses)}"
        )
    return lines


def evaluate(model, inputs, targets, weights):
    loss, accuracy = model.evaluate(inputs, targets, sample_weight=weights, verbose=0, batch_size=64)
    return float(loss), float(accuracy)


def run_demo(
    steps=None,
    minutes=3.0,
    output_dir="demo-output",
    limit=None,
    batch_size=32,
    hidden_size=128,
    num_layers=2,
    seed=0,
    cache_dir=None,
    plots=True,
    verbose=1,
    print_fn=print,
):
    """Train the demo model within a budget and report what it learned.

    Args:
        steps: stop after this many training batches (`None`: no step limit).
        minutes: stop after this many minutes of training (`None`: no time limit).
        output_dir: where the `.keras` model and the plots are written.
        limit: use only the first `limit` standard-library files (tests).
        batch_size, hidden_size, num_layers: model and training sizes.
        seed: seeds weights, masking and shuffling.
        cache_dir: corpus cache folder (default: the user cache folder).
        plots: write PNG plots when matplotlib is installed.
        verbose: 0 for no progress bar, 1 for one live bar over the budget,
            2 for one line at the end.
        print_fn: where the report goes.

    Returns:
        A dict of the reported numbers: losses and accuracies before and after,
        the unigram baseline, steps trained and the reload difference.
    """
    if steps is None and minutes is None:
        raise ValueError("Give a training budget: `steps`, `minutes` or both.")
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    data = prepare_demo_data(limit=limit, sequence_length=SEQUENCE_LENGTH, cache_dir=cache_dir)
    tokenizer = data.tokenizer
    vocabulary_size = tokenizer.vocabulary_size
    print_fn(f"keras-embed demo on the {keras.config.backend()} backend")
    print_fn(f"corpus: {data.corpus.describe()}")
    print_fn(
        f"vocabulary: {vocabulary_size} words; {len(data.train_sequences)} training and "
        f"{len(data.held_out_sequences)} held-out sequences of {SEQUENCE_LENGTH} tokens "
        f"(prepared in {time.perf_counter() - started:.1f} s)"
    )

    masker = MaskedLMMaskGenerator(
        vocabulary_size=vocabulary_size,
        mask_selection_rate=MASK_RATE,
        mask_token_id=MASK_ID,
        mask_selection_length=math.ceil(MASK_RATE * SEQUENCE_LENGTH),
        unselectable_token_ids=[PAD_ID, SEP_ID, UNK_ID],
        seed=seed,
    )
    held_out_inputs, held_out_targets, held_out_weights = masked_inputs(
        MaskedLMMaskGenerator.from_config({**masker.get_config(), "seed": seed + 1}),
        data.held_out_sequences,
    )

    model = build_masked_lm(
        vocabulary_size, SEQUENCE_LENGTH, hidden_size=hidden_size, num_layers=num_layers
    )
    # Evaluation and prediction use the logits; training never forms them (fused loss).
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    trainer = FusedLossTrainer(model)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    print_fn(
        f"model: {model.count_params():,} parameters, {num_layers} rotary encoder blocks, "
        "trained with the fused masked-LM loss (no logits formed)"
    )
    table_before = keras.ops.convert_to_numpy(model.get_layer("token_embedding").embeddings).copy()
    loss_before, accuracy_before = evaluate(model, held_out_inputs, held_out_targets, held_out_weights)

    budget = TrainingBudget(
        max_steps=steps, max_seconds=None if minutes is None else 60.0 * minutes, verbose=verbose
    )
    batches = MaskedBatches(data.train_sequences, masker, batch_size, seed)
    epochs = 10_000 if steps is None else max(1, math.ceil(steps / len(batches)))
    # The budget draws the one progress bar; keras' would count epochs.
    trainer.fit(batches, epochs=epochs, callbacks=[budget], verbose=0)
    trained_seconds = time.perf_counter() - budget.started
    loss_after, accuracy_after = evaluate(model, held_out_inputs, held_out_targets, held_out_weights)
    baseline = unigram_baseline_accuracy(data.train_sequences, held_out_targets, held_out_weights)

    print_fn("")
    print_fn(f"trained {len(budget.losses)} steps of {batch_size} sequences in {trained_seconds:.0f} s")
    print_fn("held-out masked-token prediction      loss   accuracy")
    print_fn(f"  untrained model                    {loss_before:6.3f}   {accuracy_before:7.1%}")
    print_fn(f"  unigram-frequency baseline              -   {baseline:7.1%}")
    print_fn(f"  trained model                      {loss_after:6.3f}   {accuracy_after:7.1%}")
    margin = accuracy_after - max(accuracy_before, baseline)
    if margin > 0:
        print_fn(f"  the trained model beats both by {100 * margin:.1f} points or more")
    else:
        print_fn("  the trained model does not beat both yet: train longer (--minutes, --steps)")

    print_fn("\nfill in the blank (held-out sentences):")
    examples = fill_in_the_blank_examples(data.held_out_sentences, tokenizer)
    for line in predict_blanks(model, tokenizer, examples):
        print_fn(line)

    table_after = keras.ops.convert_to_numpy(model.get_layer("token_embedding").embeddings)
    print_fn("\nnearest neighbours by cosine in the token embedding table:")
    tokens = [tokenizer.id_to_token(row) for row in range(vocabulary_size)]
    before = cosine_neighbours(table_before, tokens, NEIGHBOUR_WORDS)
    after = cosine_neighbours(table_after, tokens, NEIGHBOUR_WORDS)
    for word in after:
        for label, neighbours in (("untrained", before[word]), ("trained", after[word])):
            print_fn(f"  {word:<8} {label:<10} {', '.join(neighbours)}")

    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, "model.keras")
    model.save(model_path)
    reloaded = keras.saving.load_model(model_path)
    probe = tuple(x[:8] for x in held_out_inputs)
    reload_difference = float(
        np.abs(
            keras.ops.convert_to_numpy(model.predict_on_batch(probe))
            - keras.ops.convert_to_numpy(reloaded.predict_on_batch(probe))
        ).max()
    )
    print_fn(f"\nsaved {model_path}; reloaded model's logits differ by at most {reload_difference:.2e}")
    if reload_difference > 1e-5:
        raise RuntimeError(f"The reloaded model predicts different logits ({reload_difference}).")

    with warnings.catch_warnings():
        # Layers without weights to quantise (norms, the encoder blocks) say so.
        warnings.simplefilter("ignore", UserWarning)
        reloaded.quantize("int8")
    int8_loss, int8_accuracy = evaluate(
        reloaded, held_out_inputs, held_out_targets, held_out_weights
    )
    print_fn(
        f"model.quantize('int8'): held-out loss {int8_loss:.3f}, accuracy {int8_accuracy:.1%} "
        f"(float32: {loss_after:.3f}, {accuracy_after:.1%})"
    )
    if plots:
        for line in write_plots(output_dir, budget.losses, table_after, tokenizer, data.train_sequences):
            print_fn(line)
    return {
        "loss_before": loss_before,
        "accuracy_before": accuracy_before,
        "loss_after": loss_after,
        "accuracy_after": accuracy_after,
        "unigram_accuracy": baseline,
        "steps": len(budget.losses),
        "reload_difference": reload_difference,
        "int8_loss": int8_loss,
        "int8_accuracy": int8_accuracy,
        "batch_losses": budget.losses,
    }


def write_plots(output_dir, losses, table, tokenizer, train_sequences, words=150):
    """Loss curve and a 2-D projection of frequent words, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["matplotlib is not installed: plots skipped (pip install 'keras-embed[plots]')"]
    figure, axis = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(losses) + 1)
    axis.plot(steps, losses, color="0.75", linewidth=0.8, label="batch loss")
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    axis.plot(steps[window - 1 :], smooth, color="tab:blue", label=f"mean of {window} batches")
    axis.set_xlabel("training step")
    axis.set_ylabel("masked-token cross-entropy")
    axis.set_title("keras-embed demo: masked LM on stdlib docstrings")
    axis.legend()
    figure.tight_layout()
    loss_path = os.path.join(output_dir, "loss_curve.png")
    figure.savefig(loss_path, dpi=120)
    plt.close(figure)

    counts = np.bincount(train_sequences.reshape(-1), minlength=len(table))
    counts[list(RESERVED_IDS)] = 0
    frequent = [i for i in np.argsort(-counts) if tokenizer.id_to_token(int(i)).isalpha()][:words]
    vectors = table[frequent] - table[frequent].mean(0)
    # The two leading principal components, from the SVD of the centred rows.
    _, _, components = np.linalg.svd(vectors, full_matrices=False)
    points = vectors @ components[:2].T
    figure, axis = plt.subplots(figsize=(9, 9))
    axis.scatter(points[:, 0], points[:, 1], s=6, color="tab:blue")
    for (x, y), token_id in zip(points, frequent):
        axis.annotate(tokenizer.id_to_token(int(token_id)), (x, y), fontsize=7)
    axis.set_title(f"{words} frequent words, first two principal components of the trained table")
    figure.tight_layout()
    projection_path = os.path.join(output_dir, "embedding_projection.png")
    figure.savefig(projection_path, dpi=120)
    plt.close(figure)
    return [f"wrote {loss_path} and {projection_path}"]
