"""fastText `.bin` models: word vectors, out-of-vocabulary vectors, refused variants."""

import os

import numpy as np
import pytest
from _writers import (
    fasttext_bin_bytes,
    fasttext_vector_reference,
    fnv1a_reference,
    subword_ids_reference,
)

from keras_embed.vectors import VectorsFileError, load, save
from keras_embed.vectors.fasttext_bin import fnv1a_fasttext

pytestmark = pytest.mark.backend_independent

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
WORDS = ["</s>", "the", "naïve", "東京", "cat"]
NGRAM_OOV = ["kitten", "naïveté", "東京都", "z", "</s>x"]


def write_model(tmp_path, words=WORDS, bucket=50, dim=4, name="model.bin", **kwargs):
    matrix = np.random.default_rng(3).normal(size=(len(words) + bucket, dim)).astype(np.float32)
    path = tmp_path / name
    path.write_bytes(fasttext_bin_bytes(words, matrix, bucket=bucket, **kwargs))
    return str(path), matrix


def test_fnv1a_matches_the_published_test_vectors_for_ascii():
    # FNV-1a 32-bit reference values: "" and "a" (Fowler, Noll, Vo).
    assert fnv1a_fasttext(b"") == 0x811C9DC5
    assert fnv1a_fasttext(b"a") == 0xE40C292C


def test_fnv1a_sign_extends_bytes_above_0x7f_like_fasttext():
    data = "é東".encode()
    assert fnv1a_fasttext(data) == fnv1a_reference(data)
    unsigned = 0x811C9DC5
    for byte in data:
        unsigned = ((unsigned ^ byte) * 0x01000193) % 2**32
    assert fnv1a_fasttext(data) != unsigned


@pytest.mark.parametrize("word", ["the", "naïve", "東京", "a", "kitten"])
def test_ngram_buckets_follow_fasttext_compute_subwords_order(tmp_path, word):
    path, _ = write_model(tmp_path, minn=1, maxn=4)
    subwords = load(path).subwords
    expected = subword_ids_reference(word, 0, minn=1, maxn=4, bucket=50)
    assert subwords.ngram_buckets(word).tolist() == expected


def test_word_vectors_are_the_mean_of_word_row_and_ngram_rows(tmp_path):
    path, matrix = write_model(tmp_path)
    vectors = load(path)
    assert vectors.words == WORDS
    for row, word in enumerate(WORDS):
        # fastText gives "</s>" no n-grams.
        ngrams = [] if word == "</s>" else subword_ids_reference(word, len(WORDS), 3, 6, 50)
        expected = fasttext_vector_reference(matrix, [row] + ngrams)
        np.testing.assert_array_equal(vectors.matrix[row], expected, err_msg=word)


def test_out_of_vocabulary_vectors_are_the_mean_of_ngram_rows(tmp_path):
    path, matrix = write_model(tmp_path)
    vectors = load(path)
    for word in NGRAM_OOV:
        expected = fasttext_vector_reference(matrix, subword_ids_reference(word, len(WORDS), 3, 6, 50))
        np.testing.assert_array_equal(vectors.get_vector(word), expected, err_msg=word)


def test_out_of_vocabulary_word_without_ngrams_is_zero(tmp_path):
    path, _ = write_model(tmp_path, minn=5, maxn=6)
    np.testing.assert_array_equal(load(path).get_vector("ab"), np.zeros(4))  # "<ab>" has 4 chars.


def test_limit_keeps_the_first_words_and_all_subwords(tmp_path):
    path, _ = write_model(tmp_path)
    full, limited = load(path), load(path, limit=2)
    assert limited.words == WORDS[:2]
    np.testing.assert_array_equal(limited.get_vector("kitten"), full.get_vector("kitten"))


def test_native_save_keeps_subwords(tmp_path):
    path, _ = write_model(tmp_path)
    vectors = load(path)
    save(vectors, str(tmp_path / "native"))
    reloaded = load(str(tmp_path / "native"))
    np.testing.assert_array_equal(reloaded.get_vector("kitten"), vectors.get_vector("kitten"))


def test_golden_vectors_from_a_model_trained_by_fasttext():
    golden = np.load(os.path.join(FIXTURES, "fasttext_tiny_golden.npz"))
    vectors = load(os.path.join(FIXTURES, "fasttext_tiny.bin"))
    assert vectors.words == golden["words"].tolist()
    np.testing.assert_array_equal(vectors.matrix, golden["word_vectors"])
    for word, expected in zip(golden["oov_words"].tolist(), golden["oov_vectors"]):
        np.testing.assert_array_equal(vectors.get_vector(word), expected, err_msg=word)


def test_fasttext_reads_the_model_our_test_writer_makes(tmp_path):
    fasttext = pytest.importorskip("fasttext")
    path, _ = write_model(tmp_path)
    theirs = fasttext.load_model(path)
    ours = load(path)
    for word in WORDS[1:] + NGRAM_OOV:
        np.testing.assert_array_equal(ours.get_vector(word), theirs.get_word_vector(word), err_msg=word)


# Refused variants --------------------------------------------------------------------------


def test_bad_magic_is_refused(tmp_path):
    path, _ = write_model(tmp_path, magic=1234)
    with pytest.raises(VectorsFileError, match="expected the fastText magic number"):
        load(path, format="fasttext_bin")


def test_old_file_format_version_is_refused(tmp_path):
    path, _ = write_model(tmp_path, version=11)
    with pytest.raises(VectorsFileError, match=r"byte offset 4: fastText file format version 11"):
        load(path)


def test_supervised_model_is_refused(tmp_path):
    path, _ = write_model(tmp_path, words=["__label__a", "word"], model=3, nlabels=1)
    with pytest.raises(VectorsFileError, match="supervised"):
        load(path)


def test_quantised_model_is_refused(tmp_path):
    path, _ = write_model(tmp_path, quantised=True)
    with pytest.raises(VectorsFileError, match=r"quantised fastText model \(\.ftz\)"):
        load(path)


def test_pruned_dictionary_of_ftz_is_refused(tmp_path):
    path, _ = write_model(tmp_path, prune_size=3)
    with pytest.raises(VectorsFileError, match="pruned by quantisation"):
        load(path)


def test_truncated_model_names_the_byte_offset(tmp_path):
    path, _ = write_model(tmp_path)
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[:200])
    with pytest.raises(VectorsFileError, match=r"byte offset \d+: .*(truncated|ends after)"):
        load(path)
