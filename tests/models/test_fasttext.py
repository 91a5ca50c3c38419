"""FastText: n-gram rows and vectors against gensim's FastText, its update rule against numpy."""

import keras
import numpy as np
import pytest

from embed_testing import to_numpy
from keras_embed.models import FastText
from keras_embed.models import _word_corpus
from keras_embed.ops.huffman import huffman_tree
from test_word2vec import neighbour_accuracy
from test_word2vec import planted_corpus
from test_word2vec import sigmoid

gensim = pytest.importorskip("gensim")

WORDS = ["walking", "talking", "walked", "running", "ran", "über"]
COUNTS = [9, 7, 5, 3, 2, 1]


def small_model(**settings):
    return FastText(vector_size=4, min_count=1, bucket=300, vocabulary=WORDS,
                    word_counts=COUNTS, seed=0, **settings)


def gensim_with_weights(model):
    """gensim's FastText over the same vocabulary, holding `model`'s word and n-gram rows."""
    peer = gensim.models.FastText(vector_size=4, min_count=1, bucket=300, min_n=3, max_n=6)
    peer.build_vocab_from_freq(dict(zip(WORDS, COUNTS)))
    assert peer.wv.index_to_key == WORDS
    table = to_numpy(model.input_embeddings)
    peer.wv.vectors_vocab[:] = table[: len(WORDS)]
    peer.wv.vectors_ngrams[:] = table[len(WORDS):]
    peer.wv.adjust_vectors()
    return peer


def test_each_words_rows_are_its_own_then_gensims_ngram_buckets():
    from gensim.models.fasttext import ft_ngram_hashes

    rows = small_model()._subword_rows()
    for index, word in enumerate(WORDS):
        assert rows[index, 0] == index
        ngrams = rows[index, 1:][rows[index, 1:] >= 0] - len(WORDS)
        assert sorted(ngrams.tolist()) == sorted(ft_ngram_hashes(word, 3, 6, 300))


def test_vectors_of_unseen_words_equal_gensims_for_the_same_weights():
    model = small_model()
    peer = gensim_with_weights(model)
    for word in ("walks", "talker", "runner", "übel"):
        np.testing.assert_allclose(model.wv[word], peer.wv[word], rtol=1e-5, atol=1e-7)


def test_vocabulary_vectors_are_the_mean_of_word_and_ngram_rows_as_in_gensim():
    model = small_model()
    np.testing.assert_allclose(model.wv.matrix, gensim_with_weights(model).wv.vectors,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(to_numpy(model(np.arange(len(WORDS)))), model.wv.matrix,
                               rtol=1e-5, atol=1e-7)


def test_one_skip_gram_step_moves_every_row_of_the_input_word_by_the_whole_error():
    model = small_model(sg=1, hs=1, negative=0)
    model.node_embeddings.assign(np.random.default_rng(1).normal(size=(5, 4)).astype("float32"))
    syn0 = to_numpy(model.input_embeddings).astype(np.float64)
    syn1 = to_numpy(model.node_embeddings).astype(np.float64)
    rows = model._subword_rows()[1]
    rows = rows[rows >= 0]
    codes, points, lengths = huffman_tree(COUNTS)
    hidden, output, alpha = syn0[rows].mean(0), 0, 0.1
    error = np.zeros(4)
    for node, code in zip(points[output, :lengths[output]], codes[output, :lengths[output]]):
        error += (1 - code - sigmoid(hidden @ syn1[node])) * alpha * syn1[node]
    expected = syn0.copy()
    np.add.at(expected, rows, error)
    model._compiled_step()(np.array([[1]]), np.array([output]), alpha)
    np.testing.assert_allclose(to_numpy(model.input_embeddings), expected, rtol=1e-5, atol=1e-7)


def test_training_puts_words_of_a_planted_group_next_to_each_other(rng):
    sentences, groups = planted_corpus(rng)
    model = FastText(sentences, vector_size=16, window=3, min_count=1, sample=0, epochs=8,
                     alpha=0.05, batch_size=64, bucket=2000, sg=1, verbose=0)
    assert neighbour_accuracy(model.wv, groups) >= 0.9


def test_saves_and_loads_with_its_ngrams(tmp_path):
    model = small_model()
    path = str(tmp_path / "fasttext.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.wv["walks"], model.wv["walks"])


def test_max_n_below_min_n_is_refused():
    with pytest.raises(ValueError, match="`max_n` must be an integer >= min_n=4"):
        FastText(min_n=4, max_n=3)


@pytest.mark.parametrize("settings", [
    {"sg": 1, "negative": 2},
    {"sg": 0, "negative": 2, "cbow_mean": 1},
    {"sg": 0, "negative": 0, "hs": 1, "cbow_mean": 0},
], ids=["sg_ns", "cbow_mean_ns", "cbow_sum_hs"])
def test_packed_rows_train_as_padded_rows(settings, rng):
    # Training lays the examples' n-gram rows end to end instead of padding every word to the
    # longest; a block of packed steps must move the tables as the padded steps, batch by batch.
    padded, packed = small_model(window=2, **settings), small_model(window=2, **settings)
    width = 1 if settings["sg"] else 4
    inputs = rng.integers(-1, len(WORDS), (20, width))
    inputs[:, 0] = np.abs(inputs[:, 0])  # every example has an input word
    outputs = rng.integers(0, len(WORDS), 20)
    word_rows, _ = packed._row_packing(keep=np.ones(len(WORDS)))
    budget = 40 * width  # small: the 20 examples take several batches
    batches = list(_word_corpus.packed_batches([(inputs, outputs, 0)], 6, word_rows, budget))
    assert len(batches) > 20 // 6 + 1  # the row budget cut some batches short
    assert sum(int(np.count_nonzero(b[2] >= 0)) for b in batches) == 20
    rows, owners, batch_outputs, _ = _word_corpus._stacked(batches)
    noise = rng.integers(0, len(WORDS), (*batch_outputs.shape, settings["negative"]))
    alphas = np.linspace(0.1, 0.05, len(batches))
    packed_loss = float(to_numpy(packed._compiled_block(packed=True)(
        rows, owners, batch_outputs, alphas, noise=noise)))
    step, padded_loss, first = padded._compiled_step(), 0.0, 0
    for k, batch_outputs_k in enumerate(batch_outputs):
        count = int(np.count_nonzero(batch_outputs_k >= 0))
        batch_inputs = np.full((6, width), -1)
        batch_inputs[:count] = inputs[first:first + count]
        padded_loss += float(to_numpy(step(batch_inputs, batch_outputs_k, alphas[k], noise=noise[k])))
        first += count
    assert packed_loss == pytest.approx(padded_loss, rel=1e-5)
    for name in ("input_embeddings", "output_embeddings", "node_embeddings"):
        if getattr(padded, name) is not None:
            np.testing.assert_allclose(to_numpy(getattr(packed, name)), to_numpy(getattr(padded, name)),
                                       rtol=1e-5, atol=1e-7)


def test_packed_batches_keep_each_examples_rows_in_order():
    word_rows = np.array([[0, 5, 6], [1, -1, -1], [2, 7, -1]])
    inputs = np.array([[0, -1], [2, 1], [1, -1]])
    batches = list(_word_corpus.packed_batches([(inputs, np.array([1, 2, 0]), 7)], 2, word_rows, 6))
    rows, owners, outputs, done = batches[0]
    np.testing.assert_array_equal(rows, [0, 5, 6, 2, 7, 1])
    np.testing.assert_array_equal(owners, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(outputs, [1, 2])
    rows, owners, outputs, done = batches[1]
    np.testing.assert_array_equal(rows, [1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(owners, [0, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(outputs, [0, -1])
    assert done == 7
