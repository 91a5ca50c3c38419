"""Word2Vec: Huffman tree, logistic objectives, corpus rules and training against gensim and numpy.

References: gensim 4.4's own vocabulary attributes (Huffman codes and points,
`sample_int`) and learning-rate schedule; word2vec.c's update rule written out
in numpy for one example; the loss `sum -log s(+-u.v)` in float64 numpy.
"""

import heapq

import keras
import numpy as np
import pytest

from embed_testing import to_numpy
from keras_embed.losses import hierarchical_softmax_loss
from keras_embed.losses import negative_sampling_loss
from keras_embed.models import Word2Vec
from keras_embed.models import _corpus
from keras_embed.models import _word_corpus
from keras_embed.ops.huffman import huffman_tree
from keras_embed.ops.logistic_targets import logistic_target_gradients

gensim = pytest.importorskip("gensim")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gensim_vocabulary(counts, **settings):
    words = [f"w{i}" for i in range(len(counts))]
    model = gensim.models.Word2Vec(vector_size=4, min_count=1, **settings)
    model.build_vocab_from_freq(dict(zip(words, [int(c) for c in counts])))
    return model


def planted_corpus(rng, groups=6, group_size=3, sentences=240, length=8):
    """Sentences each drawn from one group of words: a group's words are each other's neighbours."""
    words = [[f"g{g}w{i}" for i in range(group_size)] for g in range(groups)]
    return [list(rng.choice(words[rng.integers(groups)], length)) for _ in range(sentences)], words


def neighbour_accuracy(vectors, groups):
    hits = [vectors.most_similar(word, topn=1)[0][0] in group
            for group in groups for word in group]
    return np.mean(hits)


# --- Huffman tree ----------------------------------------------------------------------


def test_huffman_codes_and_points_equal_gensims():
    # Distinct counts whose sums never tie: the Huffman tree is unique, so both must build it.
    counts = np.array([2 ** 20 + 3 * i * i for i in range(30)][::-1])
    model = gensim_vocabulary(counts, hs=1, negative=0)
    codes, points, lengths = huffman_tree(counts)
    for row, word in enumerate(model.wv.index_to_key):
        length = lengths[row]
        np.testing.assert_array_equal(codes[row, :length], model.wv.get_vecattr(word, "code"))
        np.testing.assert_array_equal(points[row, :length], model.wv.get_vecattr(word, "point"))


def test_huffman_code_is_prefix_free_and_of_optimal_weighted_length(rng):
    counts = np.sort(rng.integers(1, 1000, 50))[::-1]
    codes, points, lengths = huffman_tree(counts)
    words = ["".join(map(str, codes[w, :lengths[w]])) for w in range(len(counts))]
    assert not any(a != b and b.startswith(a) for a in words for b in words)
    # An independent Huffman cost: the sum of all merged weights.
    heap, cost = [int(c) for c in counts], 0
    heapq.heapify(heap)
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    assert int(np.sum(counts * lengths)) == cost
    assert np.all(points[:, 0] == len(counts) - 2)  # every path starts at the root


# --- objectives ------------------------------------------------------------------------


def numpy_logistic(inputs, targets, labels, mask):
    """float64 loss `sum mask -log s((2l - 1) u.v)` and its gradients, from the formula."""
    scores = np.einsum("bd,btd->bt", inputs, targets)
    loss = np.sum(mask * np.log1p(np.exp(-(2 * labels - 1) * scores)), axis=-1)
    residual = mask * (sigmoid(scores) - labels)
    return loss, np.einsum("bt,btd->bd", residual, targets), residual[..., None] * inputs[:, None]


def test_logistic_target_gradients_equal_the_numpy_formula(rng):
    inputs = rng.normal(size=(4, 6)).astype("float32")
    targets = rng.normal(size=(4, 5, 6)).astype("float32")
    labels = rng.integers(0, 2, (4, 5)).astype("float32")
    mask = rng.integers(0, 2, (4, 5)).astype("float32")
    got = logistic_target_gradients(inputs, targets, labels, mask)
    for value, expected in zip(got, numpy_logistic(inputs, targets, labels, mask)):
        np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-5, atol=1e-6)


def test_hierarchical_softmax_loss_is_the_path_probability(rng):
    # Two words under one root: p(word 0) = s(u.v), p(word 1) = s(-u.v); the loss is -log p.
    inputs = rng.normal(size=(2, 3)).astype("float32")
    nodes = rng.normal(size=(1, 3)).astype("float32")
    codes, points, lengths = huffman_tree([5, 3])
    loss = hierarchical_softmax_loss(inputs, nodes, points[[0, 1]], codes[[0, 1]], lengths[[0, 1]])
    score = inputs @ nodes[0]
    expected = [-np.log(sigmoid(score[0])) if codes[0, 0] == 0 else -np.log(sigmoid(-score[0])),
                -np.log(sigmoid(score[1])) if codes[1, 0] == 0 else -np.log(sigmoid(-score[1]))]
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-5)


def test_hierarchical_softmax_probabilities_sum_to_one(rng):
    # Summed over the vocabulary, the path probabilities of one input are a distribution.
    counts = np.sort(rng.integers(1, 100, 9))[::-1]
    codes, points, lengths = huffman_tree(counts)
    nodes = rng.normal(size=(8, 4)).astype("float32")
    inputs = np.repeat(rng.normal(size=(1, 4)).astype("float32"), 9, axis=0)
    loss = to_numpy(hierarchical_softmax_loss(inputs, nodes, points, codes, lengths))
    np.testing.assert_allclose(np.exp(-loss).sum(), 1.0, rtol=1e-5)


def test_hierarchical_softmax_gradient_equals_the_closed_form(rng):
    from test_knowledge_graph import value_and_grads

    inputs = rng.normal(size=(3, 4)).astype("float32")
    nodes = rng.normal(size=(4, 4)).astype("float32")
    codes, points, lengths = huffman_tree([9, 7, 4, 2, 1])
    rows = np.array([0, 3, 4])
    _, (input_grad, node_grad) = value_and_grads(
        lambda u, v: keras.ops.sum(hierarchical_softmax_loss(u, v, points[rows], codes[rows], lengths[rows])),
        inputs, nodes,
    )
    mask = (np.arange(points.shape[1]) < lengths[rows, None]).astype("float32")
    _, expected_input, target_grads = numpy_logistic(
        inputs, nodes[points[rows]], 1.0 - codes[rows], mask
    )
    expected_nodes = np.zeros_like(nodes)
    np.add.at(expected_nodes, points[rows], target_grads)
    np.testing.assert_allclose(input_grad, expected_input, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(node_grad, expected_nodes, rtol=1e-5, atol=1e-6)


def test_negative_sampling_terms_equal_negative_sampling_loss(rng):
    centers, contexts = rng.normal(size=(2, 3, 5)).astype("float32")
    negatives = rng.normal(size=(3, 4, 5)).astype("float32")
    targets = np.concatenate([contexts[:, None], negatives], axis=1)
    labels = np.array([[1.0, 0, 0, 0, 0]] * 3, "float32")
    loss, _, _ = logistic_target_gradients(centers, targets, labels)
    np.testing.assert_allclose(
        to_numpy(loss), to_numpy(negative_sampling_loss(centers, contexts, negatives)), rtol=1e-5
    )


@pytest.mark.parametrize("ns_exponent", [0.75, 0.5])
def test_noise_words_follow_the_counts_to_ns_exponent(ns_exponent):
    counts = np.array([400, 100, 30, 5, 1])
    model = Word2Vec(vector_size=4, negative=4, ns_exponent=ns_exponent, seed=0,
                     vocabulary=[f"w{i}" for i in range(5)], word_counts=counts.tolist())
    draws = model._noise_drawer()((50_000,))
    assert draws.shape == (50_000, 4) and draws.dtype == np.int32
    expected = counts ** ns_exponent / np.sum(counts ** ns_exponent)
    np.testing.assert_allclose(np.bincount(draws.reshape(-1), minlength=5) / draws.size, expected, atol=4e-3)


# --- corpus rules ----------------------------------------------------------------------


def test_keep_probabilities_equal_gensims_sample_ints():
    counts = np.array([50_000, 9_000, 700, 40, 3])
    model = gensim_vocabulary(counts, sample=1e-3)
    expected = [model.wv.get_vecattr(w, "sample_int") / 2 ** 32 for w in model.wv.index_to_key]
    np.testing.assert_allclose(_word_corpus.keep_probabilities(counts, 1e-3), expected, atol=1e-8)


def test_learning_rate_equals_gensims_schedule():
    model = gensim.models.Word2Vec(alpha=0.03, min_alpha=0.001, epochs=4)
    for epoch, progress in [(0, 0.0), (1, 0.25), (3, 0.9), (3, 1.0)]:
        assert _word_corpus.learning_rate(0.03, 0.001, (epoch + progress) / 4) == pytest.approx(
            model._get_next_alpha(progress, epoch)
        )


def test_skip_gram_pairs_are_the_neighbours_within_each_reduced_window():
    ids = np.arange(10, dtype=np.int32)
    sentences = np.array([0] * 6 + [1] * 4)
    reduced = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1])
    inputs, outputs = _word_corpus._window_examples(ids, sentences, reduced, 3, cbow=False)
    expected = {(j, i) for i in range(10) for j in range(10)
                if i != j and abs(i - j) <= reduced[i] and sentences[i] == sentences[j]}
    got = list(zip(inputs[:, 0].tolist(), outputs.tolist()))
    assert len(got) == len(expected) and set(got) == expected


def test_cbow_contexts_are_the_neighbours_within_each_reduced_window():
    ids = np.arange(7, dtype=np.int32) + 10
    sentences = np.array([0, 0, 0, 0, 0, 1, 1])
    reduced = np.array([2, 1, 2, 2, 1, 2, 1])
    contexts, centers = _word_corpus._window_examples(ids, sentences, reduced, 2, cbow=True)
    for context, center in zip(contexts, centers):
        i = center - 10
        expected = {j + 10 for j in range(7)
                    if j != i and abs(i - j) <= reduced[i] and sentences[i] == sentences[j]}
        assert set(context[context >= 0].tolist()) == expected


def test_reduced_windows_make_distance_d_as_likely_as_gensims_window_draw():
    # gensim draws b uniform in [0, window): a pair at distance d exists when window - b >= d.
    ids = np.zeros(20_000, dtype=np.int32)
    inputs, outputs, _ = next(_word_corpus.epoch_examples(
        ids, np.array([ids.size]), np.ones(1), 4, False, np.random.default_rng(0)
    ))
    assert inputs.shape[0] > 0
    positions = np.arange(ids.size)
    rng = np.random.default_rng(0)
    rng.random(ids.size)  # the subsampling draw comes first
    reduced = 4 - rng.integers(0, 4, ids.size)
    expected = sum(np.sum((reduced >= d) & (positions + d < ids.size))
                   + np.sum((reduced >= d) & (positions - d >= 0)) for d in range(1, 5))
    assert inputs.shape[0] == expected
    for d in range(1, 5):
        assert np.mean(reduced >= d) == pytest.approx((4 - d + 1) / 4, abs=0.02)


# --- training ----------------------------------------------------------------------------


def one_example_hs_model(sg, cbow_mean=1):
    words = [f"w{i}" for i in range(6)]
    return Word2Vec(vector_size=4, sg=sg, hs=1, negative=0, cbow_mean=cbow_mean,
                    vocabulary=words, word_counts=[20, 12, 8, 5, 3, 1], seed=3)


@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
def test_one_training_step_is_word2vec_cs_update(sg, cbow_mean):
    model = one_example_hs_model(sg, cbow_mean)
    model.node_embeddings.assign(np.random.default_rng(1).normal(size=(5, 4)).astype("float32"))
    syn0, syn1 = to_numpy(model.input_embeddings).astype(np.float64), to_numpy(model.node_embeddings).astype(np.float64)
    inputs, output, alpha = [2, 4] if not sg else [2], 1, 0.05
    codes, points, lengths = huffman_tree(model.word_counts)
    # word2vec.c: h from the inputs, g = (1 - code - s(h.v)) * alpha per node, then both updates.
    hidden = syn0[inputs].sum(0) / (len(inputs) if (sg or cbow_mean) else 1)
    error = np.zeros(4)
    expected_syn1 = syn1.copy()
    for node, code in zip(points[output, :lengths[output]], codes[output, :lengths[output]]):
        g = (1 - code - sigmoid(hidden @ syn1[node])) * alpha
        error += g * syn1[node]
        expected_syn1[node] += g * hidden
    expected_syn0 = syn0.copy()
    for row in inputs:
        expected_syn0[row] += error if (sg or cbow_mean) else error / len(inputs)
    width = 1 if sg else 2 * model.window
    batch = np.full((2, width), -1)
    batch[0, :len(inputs)] = inputs
    model._compiled_step()(batch, np.array([output, -1]), alpha)
    np.testing.assert_allclose(to_numpy(model.node_embeddings), expected_syn1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(to_numpy(model.input_embeddings), expected_syn0, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cbow_mean", [1, 0])
def test_one_cbow_negative_sampling_step_is_gensims_update(cbow_mean):
    # Noise words fixed so that both sides use the same ones; the center word among them is skipped.
    context, center, noise, alpha = [2, 4, 5], 1, [3, 1, 6, 0, 7], 0.05
    model = Word2Vec(vector_size=4, sg=0, negative=5, cbow_mean=cbow_mean, seed=3,
                     vocabulary=[f"w{i}" for i in range(8)], word_counts=[9, 8, 7, 6, 5, 4, 3, 2])
    generator = np.random.default_rng(2)
    model.input_embeddings.assign(generator.normal(size=(8, 4)).astype("float32"))
    model.output_embeddings.assign(generator.normal(size=(8, 4)).astype("float32"))
    syn0 = to_numpy(model.input_embeddings).astype(np.float64)
    syn1neg = to_numpy(model.output_embeddings).astype(np.float64)
    # gensim's w2v_fast_sentence_cbow_neg: h the mean (or sum) of the context rows; per target,
    # g = (label - s(h.u)) * alpha, work += g u, u += g h; every context row then gets work
    # (work / count when summed).
    hidden = syn0[context].sum(0) / (len(context) if cbow_mean else 1)
    work = np.zeros(4)
    for target, label in [(center, 1.0)] + [(word, 0.0) for word in noise if word != center]:
        g = (label - sigmoid(hidden @ syn1neg[target])) * alpha
        work += g * syn1neg[target]
        syn1neg[target] += g * hidden
    if not cbow_mean:
        work /= len(context)
    syn0[context] += work
    batch = np.full((2, 2 * model.window), -1)
    batch[0, :len(context)] = context
    model._compiled_step()(batch, np.array([center, -1]), alpha, noise=np.array([noise, noise]))
    np.testing.assert_allclose(to_numpy(model.output_embeddings), syn1neg, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(model.input_embeddings), syn0, rtol=1e-5, atol=1e-6)


def test_a_block_of_steps_updates_the_tables_as_the_steps_one_by_one(rng):
    # The block runs in one compiled loop on JAX; the steps one by one are the portable path.
    words = [f"w{i}" for i in range(12)]
    one_by_one, blocked = (Word2Vec(vector_size=4, sg=1, negative=3, hs=1, vocabulary=words,
                                    word_counts=list(range(30, 18, -1)), seed=5) for _ in range(2))
    inputs = rng.integers(0, 12, (3, 8, 1))
    outputs = rng.integers(-1, 12, (3, 8))
    alphas = np.array([0.05, 0.04, 0.03])
    noise = rng.integers(0, 12, (3, 8, 3))
    step = one_by_one._compiled_step()
    losses = [float(to_numpy(step(inputs[k], outputs[k], alphas[k], noise[k]))) for k in range(3)]
    loss = float(to_numpy(blocked._compiled_block()(inputs, outputs, alphas, noise=noise)))
    assert loss == pytest.approx(sum(losses), rel=1e-5)
    for name in ("input_embeddings", "output_embeddings", "node_embeddings"):
        np.testing.assert_allclose(to_numpy(getattr(blocked, name)),
                                   to_numpy(getattr(one_by_one, name)), rtol=1e-5, atol=1e-7)


def test_blocks_fill_the_last_block_with_empty_batches():
    batches = [(np.full((2, 1), k), np.full(2, k), 10 * k) for k in range(3)]
    stacked = list(_word_corpus.blocks(iter(batches), 2))
    assert [block[0].shape for block in stacked] == [(2, 2, 1), (2, 2, 1)]
    np.testing.assert_array_equal(stacked[1][1], [[2, 2], [-1, -1]])
    np.testing.assert_array_equal(stacked[1][2], [20, 20])


@pytest.mark.parametrize("settings", [
    {"sg": 1, "negative": 5},
    {"sg": 0, "negative": 5},
    {"sg": 1, "hs": 1, "negative": 0},
], ids=["sg_ns", "cbow_ns", "sg_hs"])
def test_training_puts_words_of_a_planted_group_next_to_each_other(settings, rng):
    sentences, groups = planted_corpus(rng)
    model = Word2Vec(sentences, vector_size=16, window=3, min_count=1, sample=0, epochs=8,
                     alpha=0.05, batch_size=64, verbose=0, **settings)
    assert neighbour_accuracy(model.wv, groups) >= 0.9


def test_corpus_file_reads_as_the_same_sentences(tmp_path, rng):
    sentences, _ = planted_corpus(rng, sentences=20)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    from_file = Word2Vec(min_count=1)
    from_file.build_vocab(corpus_file=str(path))
    from_list = Word2Vec(min_count=1)
    from_list.build_vocab(sentences)
    assert from_file.vocabulary == from_list.vocabulary
    file_ids = _word_corpus.encode_corpus(_corpus.corpus_of(None, str(path)), from_file._index)
    list_ids = _word_corpus.encode_corpus(_corpus.corpus_of(sentences, None), from_list._index)
    for got, expected in zip(file_ids, list_ids):
        np.testing.assert_array_equal(got, expected)


def test_corpus_cuts_long_sentences_unless_kept_whole():
    sentence = [f"t{i}" for i in range(7)]
    cut = list(_corpus.corpus_of([sentence], None, max_sentence_length=3))
    assert cut == [sentence[:3], sentence[3:6], sentence[6:]]
    assert list(_corpus.corpus_of([sentence], None, max_sentence_length=None)) == [sentence]


def test_one_pass_corpus_takes_an_iterator():
    corpus = _corpus.corpus_of(iter([["a", "b"], ("c",)]), None, reiterable=False)
    assert list(corpus) == [["a", "b"], ["c"]]


def test_train_reports_loss_and_words_per_second(rng):
    sentences, _ = planted_corpus(rng, sentences=30)
    model = Word2Vec(vector_size=8, min_count=1, epochs=2, sample=0, alpha=0.05, batch_size=64)
    model.build_vocab(sentences)
    report = model.train(sentences, verbose=0)
    # With the output table at zero every example starts at (1 + negative) log 2.
    assert len(report["loss"]) == 2 and report["loss"][1] < 6 * np.log(2)
    assert report["words"] == 2 * 30 * 8 and report["words_per_second"] > 0


def test_saves_and_loads_with_its_vocabulary(tmp_path, rng):
    sentences, _ = planted_corpus(rng, sentences=20)
    model = Word2Vec(sentences, vector_size=4, min_count=1, epochs=1, sg=1, hs=1, verbose=0)
    path = str(tmp_path / "w2v.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.wv.matrix, model.wv.matrix)
    np.testing.assert_array_equal(to_numpy(loaded.node_embeddings), to_numpy(model.node_embeddings))
    ids = np.array([[0, 1], [2, 3]])
    np.testing.assert_array_equal(to_numpy(loaded(ids)), model.wv.matrix[ids])


def test_trains_under_mixed_bfloat16_with_float32_tables(dtype_policy, rng):
    sentences, groups = planted_corpus(rng)
    model = Word2Vec(sentences, vector_size=16, window=3, min_count=1, sample=0, epochs=8,
                     alpha=0.05, batch_size=64, sg=1, verbose=0)
    assert model.input_embeddings.dtype == "float32" and model.wv.matrix.dtype == np.float32
    assert neighbour_accuracy(model.wv, groups) >= 0.9
    assert tuple(model.compute_output_shape((2, 3))) == (2, 3, 16)


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("sentences,message", [
    ([], "empty corpus"),
    ([["a", "b"], ["c"]], "min_count"),
    ("a b c", "iterable of token lists"),
    ((s for s in [["a"]]), "re-iterable"),
    ([["a"], "b c"], "token lists"),
])
def test_bad_corpus_is_refused_with_a_clear_error(sentences, message):
    with pytest.raises(ValueError, match=message):
        Word2Vec(sentences, min_count=2, verbose=0)


@pytest.mark.parametrize("arguments,message", [
    ({"vector_size": 0}, "`vector_size` must be a positive integer"),
    ({"hs": 0, "negative": 0}, "needs an objective"),
    ({"sg": 2}, "`sg` must be 0 or 1"),
    ({"alpha": -1.0}, "`alpha`"),
    ({"window": 1.5}, "`window` must be a positive integer"),
])
def test_bad_arguments_are_refused_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        Word2Vec(**arguments)


def test_missing_corpus_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="corpus_file"):
        Word2Vec(corpus_file=str(tmp_path / "missing.txt"))


def test_sentences_and_corpus_file_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        Word2Vec([["a"]], corpus_file=str(tmp_path / "c.txt"))


# --- command line ------------------------------------------------------------------------


def run_train_cli(*argv):
    import argparse

    from keras_embed.models.cli import add_subparser

    parser = argparse.ArgumentParser(prog="keras-embed")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    return args.handler(args)


def test_train_word2vec_command_writes_a_word2vec_file(tmp_path, rng, capsys):
    from keras_embed.vectors import load

    sentences, _ = planted_corpus(rng, sentences=30)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    output = str(tmp_path / "vectors.bin")
    assert run_train_cli("word2vec", "--corpus-file", str(corpus), "--output", output,
                         "--vector-size", "4", "--min-count", "1", "--epochs", "1") == 0
    vectors = load(output)
    assert vectors.dim == 4 and set(vectors.words) == {w for s in sentences for w in s}
    assert "wrote 18 word vectors" in capsys.readouterr().out


def test_train_command_with_an_empty_corpus_exits_2_with_the_reason(tmp_path, capsys):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n")
    assert run_train_cli("fasttext", "--corpus-file", str(corpus),
                         "--output", str(tmp_path / "v.vec")) == 2
    assert "empty corpus" in capsys.readouterr().err


def test_predict_looks_up_vectors_and_leaves_the_corpus_alone(rng):
    # On PyTorch, predict calls Module.eval(), which is train(False): a mode switch.
    sentences, _ = planted_corpus(rng, sentences=20)
    model = Word2Vec(sentences, vector_size=4, min_count=1, epochs=1, verbose=0)
    before = model.wv.matrix.copy()
    ids = np.array([[0, 1], [2, 3]])
    np.testing.assert_array_equal(model.predict(ids, verbose=0), before[ids])
    np.testing.assert_array_equal(model.wv.matrix, before)


def test_an_id_outside_the_vocabulary_is_refused_naming_it(rng):
    sentences, _ = planted_corpus(rng, sentences=20)
    model = Word2Vec(sentences, vector_size=4, min_count=1, epochs=1, verbose=0)
    size = len(model.vocabulary)
    with pytest.raises(ValueError, match=rf"`ids` holds {size} .*\[0, {size}\)"):
        model(np.array([[0, size]]))
