"""SubwordEmbedding and SubwordTokenizer against fastText itself."""

import os
import random

import keras
import numpy as np
import pytest
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.layers import SubwordEmbedding
from keras_embed.preprocessing import SubwordTokenizer

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "vectors", "fixtures")
GOLDEN = np.load(os.path.join(FIXTURES, "fasttext_tiny_golden.npz"))  # made by fastText itself
VOCABULARY = ["the", "king", "queen", "naïve", "café", "東京", "über", "straße", "apple", "river"]
OOV = ["kingdom", "cafés", "東京都", "x", "Straße", "</s>", "naïveté", "🙂", "rivers", "thé"]


def float32_tolerance(vectors):
    # Sums of up to ~30 float32 rows in another order: a few ulps of the largest row.
    return 1e-6 + 8 * np.finfo(np.float32).eps * np.abs(vectors).max()


@pytest.fixture(scope="module")
def trained_fasttext(tmp_path_factory):
    """A small skipgram model trained by fastText in the test setup (minn=3, maxn=6)."""
    fasttext = pytest.importorskip("fasttext")
    rng = random.Random(0)
    directory = tmp_path_factory.mktemp("fasttext")
    corpus = directory / "corpus.txt"
    corpus.write_text(
        "".join(" ".join(rng.choice(VOCABULARY) for _ in range(12)) + "\n" for _ in range(200)),
        encoding="utf-8",
    )
    model = fasttext.train_unsupervised(
        str(corpus), model="skipgram", dim=6, epoch=1, minCount=1, minn=3, maxn=6,
        bucket=2000, thread=1, verbose=0,
    )  # fmt: skip
    path = directory / "model.bin"
    model.save_model(str(path))
    return model, str(path)


# --- against fastText ---------------------------------------------------------------


def test_from_fasttext_reproduces_committed_fasttext_vectors():
    layer, tokenizer = SubwordEmbedding.from_fasttext(os.path.join(FIXTURES, "fasttext_tiny.bin"))
    for words, expected in ((GOLDEN["words"], GOLDEN["word_vectors"]), (GOLDEN["oov_words"], GOLDEN["oov_vectors"])):
        got = to_numpy(layer(tokenizer(words.tolist())))
        np.testing.assert_allclose(got, expected, rtol=0, atol=float32_tolerance(expected))


def test_from_fasttext_matches_get_word_vector_of_a_freshly_trained_model(trained_fasttext):
    model, path = trained_fasttext
    layer, tokenizer = SubwordEmbedding.from_fasttext(path)
    words = list(model.words) + OOV
    expected = np.stack([model.get_word_vector(word) for word in words])
    got = to_numpy(compiled(layer)(tokenizer(words)))
    np.testing.assert_allclose(got, expected, rtol=0, atol=float32_tolerance(expected))


def test_tokenizer_rows_are_fasttexts_subword_ids(trained_fasttext):
    model, path = trained_fasttext
    _, tokenizer = SubwordEmbedding.from_fasttext(path)
    for word in list(model.words) + OOV:
        pieces = tokenizer([word])[0]
        assert pieces[pieces >= 0].tolist() == model.get_subwords(word)[1].tolist(), word


def test_from_fasttext_accepts_loaded_vectors():
    from keras_embed.vectors import load

    layer, tokenizer = SubwordEmbedding.from_fasttext(load(os.path.join(FIXTURES, "fasttext_tiny.bin")))
    np.testing.assert_allclose(
        to_numpy(layer(tokenizer(["東京都"]))), GOLDEN["oov_vectors"][2:3], atol=1e-6
    )


# --- the layer's formula --------------------------------------------------------------


def random_layer(**kwargs):
    layer = SubwordEmbedding(num_words=3, num_buckets=20, output_dim=4, **kwargs)
    layer.build()
    layer.table.embeddings.assign(np.random.default_rng(0).normal(size=(23, 4)))
    return layer, to_numpy(layer.table.embeddings)


def test_mean_combiner_averages_the_rows_and_skips_padding():
    layer, table = random_layer()
    pieces = np.array([[0, 5, 22, -1], [7, -1, -1, -1], [-1, -1, -1, -1]])
    expected = np.stack([table[[0, 5, 22]].mean(0), table[7], np.zeros(4)])
    np.testing.assert_allclose(to_numpy(layer(pieces)), expected, rtol=1e-6, atol=1e-7)


def test_sum_combiner_sums_the_rows():
    layer, table = random_layer(combiner="sum")
    np.testing.assert_allclose(to_numpy(layer(np.array([[1, 9, -1]]))), table[[1, 9]].sum(0)[None], rtol=1e-6)


def test_tokenizer_puts_the_word_row_first_and_ngrams_after_the_vocabulary():
    tokenizer = SubwordTokenizer(["ab", "b"], minn=2, maxn=2, num_buckets=10)
    pieces = tokenizer(["ab", "zz", "</s>"])
    # "<ab>" has bigrams "<a", "ab", "b>"; "</s>" has none and is not in this vocabulary.
    assert pieces[0, 0] == 0 and np.all(pieces[0, 1:4] >= 2) and pieces.shape == (3, 4)
    assert np.all(pieces[2] == -1)
    assert SubwordTokenizer(["ab"], 2, 2, 10, max_pieces=2)(["ab"]).shape == (1, 2)


def test_mask_empty_masks_padding_words():
    layer = SubwordEmbedding(2, 10, 4, mask_empty=True)
    mask = layer.compute_mask(np.array([[[0, -1], [-1, -1]]]))
    assert to_numpy(mask).tolist() == [[True, False]]


def test_out_of_range_rows_raise_when_known_and_count_as_padding_when_compiled():
    layer, table = random_layer()
    with pytest.raises(ValueError, match=r"`inputs` holds 23 at index \(0, 1\), outside the valid range \[0, 23\)"):
        layer(np.array([[1, 23]]))
    np.testing.assert_allclose(to_numpy(compiled(layer)(np.array([[1, 23]], "int32")))[0], table[1], rtol=1e-6)


def test_sequential_without_input_embeds_float_symbolic_rows():
    model = keras.Sequential([SubwordEmbedding(2, 10, 4)])
    pieces = np.array([[0, 4, -1], [1, -1, -1]])
    np.testing.assert_allclose(model.predict(pieces, verbose=0), to_numpy(model.layers[0](pieces)), rtol=1e-6)


def test_int8_quantization_quantizes_the_table():
    layer, table = random_layer()
    model = keras.Sequential([keras.Input((3,), dtype="int32"), layer])
    pieces = np.array([[0, 5, 22]])
    before = to_numpy(model(pieces))
    model.quantize("int8")
    assert keras.backend.standardize_dtype(layer.table.embeddings.dtype) == "int8"
    # A mean of rows, each off by at most max|row| / 254 (absmax int8 per row).
    np.testing.assert_allclose(to_numpy(model(pieces)), before, atol=np.abs(table).max() / 254)


# --- bad input ---------------------------------------------------------------------------


def test_rejects_minn_above_maxn():
    with pytest.raises(ValueError, match=r"`minn` must be <= `maxn`.*minn=5, maxn=3"):
        SubwordEmbedding(2, 10, 4, minn=5, maxn=3)
    with pytest.raises(ValueError, match=r"`minn` must be <= `maxn`"):
        SubwordTokenizer(["a"], minn=4, maxn=2, num_buckets=10)


def test_from_fasttext_rejects_a_file_that_is_not_fasttext(tmp_path):
    path = tmp_path / "not_fasttext.bin"
    path.write_bytes(b"2 3\nthe 0.1 0.2 0.3\nking 0.4 0.5 0.6\n")
    with pytest.raises(ValueError, match="expected the fastText magic number"):
        SubwordEmbedding.from_fasttext(str(path))


def test_from_fasttext_rejects_vectors_without_subwords():
    from keras_embed.vectors import Vectors

    with pytest.raises(ValueError, match="must come from a fastText .bin"):
        SubwordEmbedding.from_fasttext(Vectors(["a"], np.zeros((1, 2), "float32")))


def test_rejects_non_integer_rows_and_non_string_words():
    with pytest.raises(ValueError, match="`inputs` must hold integer ids"):
        SubwordEmbedding(2, 10, 4)(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="`words` must hold str values"):
        SubwordTokenizer(["a"], num_buckets=10)([1, 2])
