"""Reading and writing vector files: round trips, format guessing, limits, bad input."""

import bz2
import gzip
import os

import numpy as np
import pytest
from _writers import text_lines, word2vec_binary_bytes

from keras_embed.vectors import Vectors, VectorsFileError, load, save, sniff_format

pytestmark = pytest.mark.backend_independent

WORDS = ["the", "King", "naïve", "東京", "a\u00a0b", "tab\tin", "x" * 40] + [f"w{i}" for i in range(30)]


@pytest.fixture
def vectors():
    matrix = np.random.default_rng(0).normal(size=(len(WORDS), 5)).astype(np.float32)
    return Vectors(WORDS, matrix)


def write_bytes(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


# Round trips --------------------------------------------------------------------------

ROUND_TRIPS = [
    ("vectors.bin", None, "word2vec_binary"),
    ("vectors.vec", None, "word2vec_text"),
    ("vectors.txt", "word2vec_text", "word2vec_text"),
    ("vectors.txt", "glove", "glove"),
    ("vectors.bin.gz", None, "word2vec_binary"),
    ("vectors.vec.bz2", None, "word2vec_text"),
    ("glove.txt.gz", "glove", "glove"),
    ("native", None, "native"),
]


@pytest.mark.parametrize("name, format, expected_format", ROUND_TRIPS)
def test_save_then_load_returns_identical_words_and_float32_values(
    tmp_path, vectors, name, format, expected_format
):
    path = str(tmp_path / name)
    save(vectors, path, format=format)
    loaded = load(path)
    assert loaded.format == expected_format
    assert sniff_format(path) == expected_format
    assert loaded.words == WORDS
    # Text stores float32 with 9 significant digits, which reads back exactly.
    np.testing.assert_array_equal(loaded.matrix, vectors.matrix)
    assert loaded.index == {word: row for row, word in enumerate(WORDS)}


def test_compressed_files_are_really_compressed(tmp_path, vectors):
    save(vectors, str(tmp_path / "v.bin.gz"))
    save(vectors, str(tmp_path / "v.vec.bz2"))
    header = f"{len(WORDS)} 5\n".encode()
    assert gzip.open(tmp_path / "v.bin.gz").read(len(header)) == header
    assert bz2.open(tmp_path / "v.vec.bz2").read(len(header)) == header


def test_native_format_loads_memory_mapped(tmp_path, vectors):
    save(vectors, str(tmp_path / "native"))
    loaded = load(str(tmp_path / "native"))
    assert isinstance(loaded.matrix, np.memmap)


def test_native_format_keeps_words_with_newlines_and_backslashes(tmp_path):
    words = ["line\nbreak", "back\\slash", "\\n", "cr\rhere", "plain"]
    vectors = Vectors(words, np.arange(10, dtype=np.float32).reshape(5, 2))
    save(vectors, str(tmp_path / "native"), format="native")
    assert load(str(tmp_path / "native")).words == words


def test_word2vec_binary_reads_records_without_newlines(tmp_path, vectors):
    path = write_bytes(tmp_path / "v.bin", word2vec_binary_bytes(WORDS, vectors.matrix, newline=False))
    loaded = load(path, format="word2vec_binary")
    assert loaded.words == WORDS
    np.testing.assert_array_equal(loaded.matrix, vectors.matrix)


def test_word2vec_binary_reads_float32_bytes_that_look_like_spaces_and_newlines(tmp_path):
    # 0x20 and 0x0a bytes inside the float data must not split records.
    matrix = np.frombuffer(b"\x20\x0a\x20\x0a" * 6, dtype="<f4").reshape(3, 2)
    words = ["a", "b", "c"]
    path = write_bytes(tmp_path / "v.bin", word2vec_binary_bytes(words, matrix))
    loaded = load(path, format="word2vec_binary")
    assert loaded.words == words
    np.testing.assert_array_equal(loaded.matrix, matrix)


def test_glove_keeps_tokens_that_contain_spaces(tmp_path):
    # GloVe 840B has tokens such as ". . ." : everything before the last `dim` fields.
    words = ["hello", ". . .", "new york", "x"]
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3) / 4
    path = write_bytes(tmp_path / "glove.txt", text_lines(words, matrix).encode())
    loaded = load(path)
    assert loaded.format == "glove"
    assert loaded.words == words
    np.testing.assert_array_equal(loaded.matrix, matrix)


def test_glove_infers_dimension_from_the_most_common_field_count(tmp_path):
    words = ["a b c d", "x", "y", "z"]  # The first line alone would suggest dim 6.
    matrix = np.ones((4, 3), np.float32)
    path = write_bytes(tmp_path / "glove.txt", text_lines(words, matrix).encode())
    assert load(path).dim == 3


def test_text_lines_split_on_ascii_space_only(tmp_path):
    # U+3000 and U+00A0 are spaces to str.split() but part of the token here.
    words = ["ideographic\u3000space", "no\u00a0break"]
    matrix = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    path = write_bytes(tmp_path / "v.vec", ("2 2\n" + text_lines(words, matrix)).encode())
    assert load(path).words == words


def test_text_reader_accepts_crlf_and_trailing_spaces(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"2 2\r\na 1 2 \r\nb 3 4\r\n")
    loaded = load(path)
    assert loaded.words == ["a", "b"]
    np.testing.assert_array_equal(loaded.matrix, [[1, 2], [3, 4]])


def test_text_reader_parses_scientific_notation_and_signs(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"1 4\nw 1e-3 -2.5E+2 +7 .5\n")
    expected = np.array([[1e-3, -250.0, 7.0, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(load(path).matrix, expected)


def test_load_casts_to_the_requested_dtype(tmp_path, vectors):
    save(vectors, str(tmp_path / "v.bin"))
    loaded = load(str(tmp_path / "v.bin"), dtype="float64")
    assert loaded.matrix.dtype == np.float64
    np.testing.assert_array_equal(loaded.matrix, vectors.matrix.astype(np.float64))


@pytest.mark.parametrize("name, format", [("v.bin", None), ("v.vec", None), ("g.txt", "glove"), ("native", None)])
def test_limit_reads_only_the_first_vectors(tmp_path, vectors, name, format):
    save(vectors, str(tmp_path / name), format=format)
    loaded = load(str(tmp_path / name), limit=3)
    assert loaded.words == WORDS[:3]
    np.testing.assert_array_equal(loaded.matrix, vectors.matrix[:3])


@pytest.mark.parametrize("binary", [True, False])
def test_limit_stops_before_a_corrupt_tail(tmp_path, binary):
    # Whatever follows the first `limit` vectors is never parsed.
    matrix = np.ones((2, 2), np.float32)
    body = word2vec_binary_bytes(["a", "b"], matrix, header="5 2\n") if binary else (
        "5 2\n" + text_lines(["a", "b"], matrix)
    ).encode()
    path = write_bytes(tmp_path / "v", body + b"\xff\xfe garbage that is not a vector")
    assert load(path, limit=2).words == ["a", "b"]
    with pytest.raises(VectorsFileError):
        load(path)


def test_words_are_decoded_with_encoding_errors_replace(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"2 1\nbad\xffword 1\nok 2\n")
    assert load(path, encoding_errors="replace").words == ["bad\ufffdword", "ok"]
    assert load(path, encoding_errors="ignore").words == ["badword", "ok"]


def test_progress_bar_is_written_to_stderr_when_asked(tmp_path, vectors, capsys):
    save(vectors, str(tmp_path / "v.bin"))
    load(str(tmp_path / "v.bin"), progress=True)
    kilobytes = -(-os.path.getsize(tmp_path / "v.bin") // 1024)
    captured = capsys.readouterr()
    # keras' Progbar counts the file's KB: the last line shows all of them read.
    assert f"{kilobytes}/{kilobytes}" in captured.err and "loading v.bin" in captured.err
    assert captured.out == ""


def test_no_progress_bar_when_not_asked(tmp_path, vectors, capsys):
    save(vectors, str(tmp_path / "v.bin"))
    load(str(tmp_path / "v.bin"), progress=False)
    assert capsys.readouterr().err == ""


# Format guessing -------------------------------------------------------------------------


def test_sniff_tells_binary_from_text_with_the_same_header(tmp_path, vectors):
    save(vectors, str(tmp_path / "a"), format="word2vec_binary")
    save(vectors, str(tmp_path / "b"), format="word2vec_text")
    save(vectors, str(tmp_path / "c"), format="glove")
    assert [sniff_format(str(tmp_path / n)) for n in "abc"] == [
        "word2vec_binary", "word2vec_text", "glove"
    ]


def test_save_picks_the_format_from_the_suffix_or_refuses(tmp_path, vectors):
    with pytest.raises(ValueError, match="Cannot tell the format from the name"):
        save(vectors, str(tmp_path / "v.unknown"))


# Bad input --------------------------------------------------------------------------------


def assert_file_error(path, match, **kwargs):
    with pytest.raises(VectorsFileError, match=match) as info:
        load(path, **kwargs)
    assert str(path) in str(info.value)
    return str(info.value)


def test_empty_file_is_refused(tmp_path):
    assert_file_error(write_bytes(tmp_path / "empty.vec", b""), "the file is empty")


def test_text_line_with_wrong_dimension_names_the_line(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"3 2\na 1.000 2.000\nb 1.000 2.000 3\nc 1.000 2.000\n")
    assert_file_error(path, r"line 3: expected a word and 2 numbers")


def test_text_line_with_too_few_numbers_names_the_line(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"3 2\na 1.000 2.000\nb 1.000\nc 1.000 2.000\n")
    assert_file_error(path, r"line 3: expected a word and 2 numbers")


def test_text_value_that_is_not_a_number_names_the_line(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"2 2\na 1.000 2.000\nb 1.000 x2\n")
    assert_file_error(path, r"line 3: 'x2' is not a number")


def test_text_header_promising_more_vectors_than_present(tmp_path):
    path = str(tmp_path / "v.vec.gz")  # Compressed: no size pre-check, the reader hits the end.
    with gzip.open(path, "wb") as handle:
        handle.write(b"3 2\na 1 2\nb 1 2\n")
    assert_file_error(path, r"line 4: the header promises 3 vectors but the file ends after 2")


def test_text_header_promising_fewer_vectors_than_present(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"1 2\na 1 2\nb 1 2\n")
    assert_file_error(path, r"line 3: the header promises 1 vectors but more lines follow")


def test_header_claiming_absurd_sizes_is_refused_before_allocating(tmp_path):
    path = write_bytes(tmp_path / "v.bin", b"4000000000000 300\na " + b"\x00" * 1200)
    message = assert_file_error(path, r"line 1: the header claims 4000000000000 vectors")
    assert "bytes follow it" in message


def test_malformed_header_is_refused(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"3 two\na 1 2\n")
    assert_file_error(path, "line 1: expected a header 'count dim'", format="word2vec_text")


def test_text_header_larger_than_the_file_is_refused_up_front(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"3 2\na 1 2\nb 1 2\n")
    assert_file_error(path, r"line 1: the header claims 3 vectors of dimension 2, which needs at least 18 bytes")


def test_binary_truncated_inside_a_vector_names_the_byte_offset(tmp_path):
    data = word2vec_binary_bytes(["a", "b"], np.ones((2, 4), np.float32))
    path = str(tmp_path / "v.bin.gz")
    with gzip.open(path, "wb") as handle:
        handle.write(data[:-7])
    # Header "2 4\n" (4 bytes) + "a " + 16 bytes + "\n" puts b's vector at byte 25.
    assert_file_error(path, r"byte offset 25: vector 2 \('b'\): expected 16 bytes")


def test_binary_header_promising_more_vectors_than_present(tmp_path):
    data = word2vec_binary_bytes(["a", "b"], np.ones((2, 2), np.float32), header="3 2\n")
    path = write_bytes(tmp_path / "v.bin", data + b"\x00" * 30)  # Defeat the size pre-check.
    assert_file_error(path, r"the header promises 3 vectors|vector 3", format="word2vec_binary")


def test_binary_header_promising_fewer_vectors_than_present(tmp_path):
    data = word2vec_binary_bytes(["a", "b"], np.ones((2, 2), np.float32), header="1 2\n")
    assert_file_error(write_bytes(tmp_path / "v.bin", data), "byte offset 15: the header promises 1 vectors but more data follows")


def test_duplicate_word_names_both_places(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"3 1\na 1\nb 2\na 3\n")
    assert_file_error(path, r"line 4: word 'a' appears a second time \(first at line 2\)")


def test_duplicate_word_in_binary_names_byte_offsets(tmp_path):
    data = word2vec_binary_bytes(["a", "a"], np.ones((2, 1), np.float32))
    assert_file_error(write_bytes(tmp_path / "v.bin", data), r"byte offset 11: word 'a' appears a second time \(first at byte offset 4\)")


def test_invalid_utf8_word_names_the_line_when_strict(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"2 1\nok 1\nbad\xffword 2\n")
    assert_file_error(path, r"line 3: word b'bad\\xffword' is not valid UTF-8")


def test_invalid_utf8_word_in_binary_names_the_byte_offset(tmp_path):
    data = b"1 1\n\xc3\x28 " + np.ones(1, "<f4").tobytes()
    assert_file_error(write_bytes(tmp_path / "v.bin", data), r"byte offset 4: word b'\\xc3\(' is not valid UTF-8")


def test_blank_line_in_the_middle_is_refused(tmp_path):
    path = write_bytes(tmp_path / "g.txt", b"a 1 2\n\nb 1 2\n")
    assert_file_error(path, r"line 2: blank line before more vectors", format="glove")


def test_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="No vectors file at"):
        load(str(tmp_path / "nothing.bin"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"limit": 0}, "`limit` must be a positive integer"),
        ({"dtype": "int32"}, "`dtype` must be a float dtype"),
        ({"encoding_errors": "nonsense"}, "`encoding_errors` must be an error handler"),
        ({"format": "xml"}, "`format` must be one of"),
    ],
)
def test_bad_load_arguments_are_refused(tmp_path, vectors, kwargs, match):
    save(vectors, str(tmp_path / "v.bin"))
    with pytest.raises(ValueError, match=match):
        load(str(tmp_path / "v.bin"), **kwargs)


def test_words_with_spaces_cannot_be_saved_as_word2vec(tmp_path):
    vectors = Vectors(["new york"], np.ones((1, 2)))
    with pytest.raises(ValueError, match="cannot store empty words, line breaks or spaces"):
        save(vectors, str(tmp_path / "v.bin"))
    assert os.listdir(tmp_path) == []


# Atomic saving ----------------------------------------------------------------------------


class ExplodingMatrix(np.ndarray):
    """A matrix whose rows past the first block cannot be read: a save that dies midway."""

    def __getitem__(self, key):
        if isinstance(key, slice) and (key.start or 0) > 0:
            raise RuntimeError("disk on fire")
        return super().__getitem__(key)


@pytest.mark.parametrize("name, format", [("v.bin", None), ("v.vec", None), ("g.txt", "glove"), ("v.bin.gz", None)])
def test_failed_save_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch, name, format):
    from keras_embed.vectors import _text, word2vec

    monkeypatch.setattr(word2vec, "_WRITE_BLOCK_BYTES", 1000)  # Blocks of 1000 // (8 + 16) rows.
    monkeypatch.setattr(_text, "WRITE_BLOCK_VALUES", 100)  # Blocks of 50 rows.
    words = [f"w{i}" for i in range(9000)]  # More than one write block.
    matrix = np.ones((9000, 2), np.float32).view(ExplodingMatrix)
    path = tmp_path / name
    path.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="disk on fire"):
        save(Vectors(words, matrix), str(path), format=format)
    assert os.listdir(tmp_path) == [name]
    assert path.read_bytes() == b"old content"


def test_failed_native_save_leaves_no_directory(tmp_path, monkeypatch):
    from keras_embed.vectors import native

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(native.json, "dumps", fail)  # Dies after the matrix and vocabulary.
    with pytest.raises(OSError, match="disk full"):
        save(Vectors(["a", "b"], np.ones((2, 2), np.float32)), str(tmp_path / "native"))
    assert os.listdir(tmp_path) == []


# Peers: gensim reads our files and we read gensim's -------------------------------------


@pytest.mark.parametrize("binary", [True, False])
def test_gensim_reads_what_we_write_and_we_read_what_gensim_writes(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    words = ["the", "king", "naïve", "東京"]
    matrix = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    ours = str(tmp_path / ("ours.bin" if binary else "ours.vec"))
    save(Vectors(words, matrix), ours)
    theirs = gensim_models.KeyedVectors.load_word2vec_format(ours, binary=binary)
    assert theirs.index_to_key == words
    np.testing.assert_array_equal(theirs.vectors, matrix)
    written = str(tmp_path / "gensim.out")
    theirs.save_word2vec_format(written, binary=binary)
    loaded = load(written)
    assert loaded.words == words
    np.testing.assert_array_equal(loaded.matrix, matrix)


def truncated_gzip(tmp_path):
    """A `.vec.gz` cut in the middle of its compressed stream (an interrupted download)."""
    rows = b"".join(b"w%d 1.5 2.5 3.5\n" % i for i in range(2000))
    whole = gzip.compress(b"2000 3\n" + rows)
    return write_bytes(tmp_path / "v.vec.gz", whole[: len(whole) // 2])


def test_truncated_gzip_file_raises_a_file_error(tmp_path):
    path = truncated_gzip(tmp_path)
    assert_file_error(path, r"the gzip stream is cut short or damaged .*the file is truncated")


def test_text_header_with_the_wrong_dimension_names_both_sizes(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"2 5\na 1 2 3\nb 1 2 3\n")
    assert_file_error(path, r"line 1: the header 'count dim' gives dimension 5, but the first vector .* has 3 numbers$")


def test_text_header_with_count_and_dim_swapped_says_so(tmp_path):
    path = write_bytes(tmp_path / "v.vec", b"3 2\na 1 2 3\nb 1 2 3\n")
    assert_file_error(path, r"has 3 numbers; the header looks swapped: word2vec headers are 'count dim'")
