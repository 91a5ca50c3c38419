"""GloVe: co-occurrence counting, weighting, loss, glove.c's AdaGrad, training, saving, CLI.

References are written from the paper (Pennington et al., 2014) and the reference
tools: counts by a double loop over each sentence's in-vocabulary words; `f`, the
loss and its gradient by numpy formulas; an epoch by glove.c's update, pair by pair.
"""

import collections
import os

import keras
import numpy as np
import pytest

from embed_testing import to_numpy
from keras_embed.models import Cooccurrences
from keras_embed.models import GloVe
from keras_embed.models import GloVeLoss
from keras_embed.models import cooccurrence
from keras_embed.models.glove import glove_weighting

CORPUS = [
    ["the", "cat", "sat", "on", "the", "mat"],
    ["the", "dog", "sat", "on", "a", "log", "the", "end"],
    ["cat", "and", "dog"],
    ["rare"],
    ["the", "the", "cat"],
]


def reference_counts(sentences, vocabulary, window, symmetric=True, distance_weighting=True):
    """glove.c's `cooccur` by a double loop: out-of-vocabulary words removed, then windows."""
    index = {word: row for row, word in enumerate(vocabulary)}
    counts = collections.defaultdict(float)
    for sentence in sentences:
        ids = [index[word] for word in sentence if word in index]
        for right in range(len(ids)):
            for left in range(max(0, right - window), right):
                weight = 1.0 / (right - left) if distance_weighting else 1.0
                counts[ids[left], ids[right]] += weight
                if symmetric:
                    counts[ids[right], ids[left]] += weight
    return counts


def as_dict(cooccurrences):
    return {(int(i), int(j)): float(x) for i, j, x in zip(*cooccurrences)}


def counted(sentences, min_count=1, window=3, **kwargs):
    corpus = cooccurrence.TokenizedCorpus(sentences)
    vocabulary, _ = cooccurrence.build_vocabulary(corpus.words, corpus.counts, min_count)
    return vocabulary, cooccurrence.corpus_cooccurrences(corpus, vocabulary, window, **kwargs)


# --- vocabulary and co-occurrences ---------------------------------------------------------


def test_vocabulary_is_by_count_then_alphabetical_and_cut_at_min_count():
    corpus = cooccurrence.TokenizedCorpus(CORPUS)
    vocabulary, counts = cooccurrence.build_vocabulary(corpus.words, corpus.counts, min_count=2)
    # the x6; cat x3; dog, on, sat x2 (alphabetical); every other word once.
    assert vocabulary == ["the", "cat", "dog", "on", "sat"]
    np.testing.assert_array_equal(counts, [6, 3, 2, 2, 2])


def test_max_vocab_keeps_the_most_frequent_words():
    corpus = cooccurrence.TokenizedCorpus(CORPUS)
    vocabulary, _ = cooccurrence.build_vocabulary(corpus.words, corpus.counts, 1, max_vocab=3)
    assert vocabulary == ["the", "cat", "dog"]


def test_symmetric_counts_weight_pairs_by_inverse_distance_within_sentences():
    vocabulary, cooccurrences = counted(CORPUS, min_count=2, window=3)
    # Rows are in row-major order.
    keys = list(zip(cooccurrences.rows.tolist(), cooccurrences.columns.tolist()))
    assert keys == sorted(keys)
    expected = reference_counts(CORPUS, vocabulary, window=3)
    assert as_dict(cooccurrences) == pytest.approx(dict(expected))
    # (the, the): "the the" adds 2 / 1; the other pairs of "the" are 4 kept words apart.
    assert expected[0, 0] == 2.0


def test_asymmetric_counts_take_only_the_left_context():
    vocabulary, cooccurrences = counted(CORPUS, window=2, symmetric=False)
    expected = reference_counts(CORPUS, vocabulary, window=2, symmetric=False)
    assert as_dict(cooccurrences) == pytest.approx(dict(expected))


def test_counts_without_distance_weighting_are_whole_numbers():
    vocabulary, cooccurrences = counted(CORPUS, window=4, distance_weighting=False)
    expected = reference_counts(CORPUS, vocabulary, window=4, distance_weighting=False)
    assert as_dict(cooccurrences) == pytest.approx(dict(expected))


@pytest.mark.parametrize("dense_words", [0, 3, 100])
def test_counts_are_the_same_in_small_chunks_with_any_dense_block(monkeypatch, rng, dense_words):
    # Frequent pairs go to a dense block, the others through sorting; chunks cut sentences.
    sentences = [list(rng.choice(list("abcdefgh"), size=rng.integers(1, 30))) for _ in range(40)]
    monkeypatch.setattr(cooccurrence, "_CHUNK_TOKENS", 7)
    monkeypatch.setattr(cooccurrence, "_DENSE_WORDS", dense_words)
    vocabulary, cooccurrences = counted(sentences, window=5)
    expected = reference_counts(sentences, vocabulary, window=5)
    assert as_dict(cooccurrences) == pytest.approx(dict(expected))


# --- weighting, loss, gradients ------------------------------------------------------------


def test_weighting_is_min_of_one_and_the_scaled_power():
    counts = np.array([0.5, 1.0, 10.0, 99.0, 100.0, 250.0])
    expected = np.minimum((counts / 100.0) ** 0.75, 1.0)
    np.testing.assert_allclose(to_numpy(glove_weighting(counts)), expected, rtol=1e-6)


def small_model(vocabulary=tuple("abcdef"), **kwargs):
    kwargs = {"vector_size": 4, "batch_size": 8, "seed": 3, **kwargs}
    return GloVe(vocabulary=list(vocabulary), **kwargs)


def tables(model):
    return (to_numpy(model.word_embeddings.embeddings).astype(np.float64),
            to_numpy(model.context_embeddings.embeddings).astype(np.float64))


def test_predictions_and_loss_equal_the_papers_formulas():
    model = small_model()
    pairs = np.array([[0, 1], [2, 2], [5, 0]])
    counts = np.array([3.0, 0.5, 150.0])
    words, contexts = tables(model)
    w, c = words[pairs[:, 0]], contexts[pairs[:, 1]]
    predictions = np.sum(w[:, :4] * c[:, :4], axis=1) + w[:, 4] + c[:, 4]
    np.testing.assert_allclose(to_numpy(model(pairs)), predictions, rtol=1e-5, atol=1e-7)
    weights = np.minimum((counts / 100.0) ** 0.75, 1.0)
    expected = 0.5 * np.sum(weights * (predictions - np.log(counts)) ** 2)
    loss = GloVeLoss()(counts, model(pairs))
    assert float(to_numpy(loss)) == pytest.approx(expected, rel=1e-5)


def test_first_step_moves_each_row_by_learning_rate_times_its_gradient():
    # glove.c's accumulator starts at 1, so the first step is `lr * gradient` exactly.
    model = small_model(batch_size=3, learning_rate=0.1)
    cooccurrences = Cooccurrences(np.array([0, 1, 2]), np.array([3, 4, 5]),
                                  np.array([3.0, 0.5, 150.0]))
    words, contexts = tables(model)
    w, c = words[:3], contexts[3:]
    errors = np.sum(w[:, :4] * c[:, :4], 1) + w[:, 4] + c[:, 4] - np.log(cooccurrences.counts)
    scaled = np.minimum((cooccurrences.counts / 100.0) ** 0.75, 1.0) * errors
    word_gradients = np.concatenate([scaled[:, None] * c[:, :4], scaled[:, None]], axis=1)
    context_gradients = np.concatenate([scaled[:, None] * w[:, :4], scaled[:, None]], axis=1)
    model.fit_corpus(cooccurrences=cooccurrences, epochs=1, shuffle=False, verbose=0)
    new_words, new_contexts = tables(model)
    np.testing.assert_allclose((words[:3] - new_words[:3]) / 0.1, word_gradients, rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose((contexts[3:] - new_contexts[3:]) / 0.1, context_gradients,
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(new_words[3:], words[3:])


# --- training ------------------------------------------------------------------------------


def glove_c_epoch(words, contexts, cooccurrences, eta=0.05, x_max=100.0, alpha=0.75):
    """One pass of glove.c's `glove_thread` loop over the pairs in order (float64)."""
    words, contexts = words.copy(), contexts.copy()
    gradsq_words, gradsq_contexts = np.ones_like(words), np.ones_like(contexts)
    d = words.shape[1] - 1
    for i, j, x in zip(*cooccurrences):
        diff = words[i, :d] @ contexts[j, :d] + words[i, d] + contexts[j, d] - np.log(x)
        fdiff = eta * (diff if x > x_max else (x / x_max) ** alpha * diff)
        temp1, temp2 = fdiff * contexts[j, :d], fdiff * words[i, :d]
        words[i, :d] -= temp1 / np.sqrt(gradsq_words[i, :d])
        contexts[j, :d] -= temp2 / np.sqrt(gradsq_contexts[j, :d])
        gradsq_words[i, :d] += temp1**2
        gradsq_contexts[j, :d] += temp2**2
        words[i, d] -= fdiff / np.sqrt(gradsq_words[i, d])
        contexts[j, d] -= fdiff / np.sqrt(gradsq_contexts[j, d])
        gradsq_words[i, d] += fdiff**2
        gradsq_contexts[j, d] += fdiff**2
    return words, contexts


def test_one_epoch_with_one_pair_per_step_is_glove_c_update(dtype_policy):
    vocabulary, cooccurrences = counted(CORPUS[:3], window=2)
    model = GloVe(vocabulary=vocabulary, vector_size=3, batch_size=1, seed=1)
    words, contexts = tables(model)
    expected_words, expected_contexts = glove_c_epoch(words, contexts, cooccurrences)
    model.fit_corpus(cooccurrences=cooccurrences, epochs=1, shuffle=False, verbose=0)
    new_words, new_contexts = tables(model)
    np.testing.assert_allclose(new_words, expected_words, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_contexts, expected_contexts, rtol=1e-5, atol=1e-7)


def planted_corpus(rng, sentences=120):
    """Two topics whose words never share a sentence, each word with its own frequency."""
    topics = [list("abcd"), list("wxyz")]
    frequencies = np.array([0.4, 0.3, 0.2, 0.1])
    return [list(rng.choice(topics[k % 2], size=8, p=frequencies)) for k in range(sentences)]


def test_training_fits_the_log_counts_on_every_backend(rng):
    model = GloVe(planted_corpus(rng), vector_size=6, window=3, min_count=1, epochs=10,
                  batch_size=64, learning_rate=0.2, x_max=10.0, seed=0, verbose=0)
    rows, columns, counts = model.cooccurrences
    predictions = to_numpy(model(np.stack([rows, columns], axis=1)))
    # 32 pairs (each topic's 4 x 4), log counts from about 1.8 to 5.3.
    assert np.corrcoef(predictions, np.log(counts))[0, 1] > 0.95
    history = model.fit_corpus(cooccurrences=model.cooccurrences, epochs=1, verbose=0)
    assert set(history) == {"loss", "cost", "pairs_per_second"}
    assert history["cost"][-1] < 0.05


def test_wv_holds_word_plus_context_vectors():
    model = small_model()
    words, contexts = tables(model)
    np.testing.assert_allclose(model.wv.matrix, (words + contexts)[:, :4], rtol=1e-6)
    np.testing.assert_allclose(model.embedding_matrix("context"), contexts[:, :4], rtol=1e-6)
    assert model.wv.words == list("abcdef")


def test_outputs_and_tables_stay_float32_under_mixed_precision(dtype_policy):
    model = small_model()
    assert model.word_embeddings.embeddings.dtype == "float32"
    assert keras.backend.standardize_dtype(model(np.array([[0, 1]])).dtype) == "float32"


def test_diverging_training_raises_instead_of_returning_nan_vectors(rng):
    with pytest.raises(FloatingPointError, match="diverged.*`learning_rate`=1000"):
        GloVe(planted_corpus(rng), vector_size=4, window=3, min_count=1, epochs=4,
              learning_rate=1000.0, x_max=10.0, seed=0, verbose=0)


# --- saving and configuration ---------------------------------------------------------------


def test_config_and_keras_file_round_trip(tmp_path, rng):
    model = GloVe(planted_corpus(rng, 20), vector_size=4, window=2, min_count=1, epochs=1,
                  batch_size=16, seed=0, verbose=0)
    config = model.get_config()
    assert GloVe.from_config(config).get_config() == config
    path = os.path.join(tmp_path, "glove.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.vocabulary == model.vocabulary
    np.testing.assert_allclose(loaded.wv.matrix, model.wv.matrix)
    pairs = np.array([[0, 1], [2, 3]])
    np.testing.assert_allclose(to_numpy(loaded(pairs)), to_numpy(model(pairs)), rtol=1e-6)


# --- bad input -----------------------------------------------------------------------------


def test_empty_corpus_is_refused():
    with pytest.raises(ValueError, match="at least one token"):
        GloVe([[], []], verbose=0)


def test_corpus_with_no_word_reaching_min_count_is_refused():
    with pytest.raises(ValueError, match="No word reaches `min_count`=5"):
        GloVe([["a", "b"], ["a"]], min_count=5, verbose=0)


def test_corpus_with_no_pair_in_a_window_is_refused():
    with pytest.raises(ValueError, match="nothing to fit"):
        GloVe([["a"], ["b"], ["a"]], min_count=1, verbose=0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"vector_size": 0}, "`vector_size` must be a positive integer. Received: vector_size=0"),
        ({"x_max": -1.0}, "`x_max` must be a positive finite number"),
        ({"window": 2.5}, "`window` must be a positive integer"),
        ({"vocabulary": ["a", "a"]}, "`vocabulary` must not repeat an entry"),
    ],
)
def test_bad_arguments_are_refused_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        GloVe(**arguments)


def test_sentences_and_corpus_file_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="exactly one of `sentences`"):
        GloVe([["a", "b"]], corpus_file=str(tmp_path / "c.txt"), min_count=1, verbose=0)


def test_cooccurrences_outside_the_vocabulary_are_refused():
    model = small_model()
    with pytest.raises(ValueError, match=r"ids in \[0, 6\). Received: 9 at position 1"):
        model.fit_corpus(cooccurrences=Cooccurrences(np.array([0, 9]), np.array([1, 1]),
                                                     np.array([1.0, 2.0])), verbose=0)


# --- command line --------------------------------------------------------------------------


def test_cli_writes_a_glove_text_file(tmp_path, rng):
    from keras_embed.cli import main
    from keras_embed.vectors import load

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in planted_corpus(rng, 20)), encoding="utf-8")
    output = tmp_path / "vectors.txt"
    code = main(["train", "glove", "--corpus", str(corpus), "--output", str(output),
                 "--vector-size", "4", "--window", "2", "--min-count", "1", "--epochs", "1"])
    assert code == 0
    vectors = load(str(output), format="glove")
    assert sorted(vectors.words) == list("abcdwxyz") and vectors.dim == 4


def test_cli_reports_a_missing_corpus(tmp_path, capsys):
    from keras_embed.cli import main

    code = main(["train", "glove", "--corpus", str(tmp_path / "none.txt"),
                 "--output", str(tmp_path / "v.txt")])
    assert code == 2
    assert "`--corpus` must be a text file" in capsys.readouterr().err
