"""Text files: telling a header from a vector line, and the dimension of headerless files."""

import numpy as np
import pytest

from keras_embed.vectors import VectorsFileError, load

pytestmark = pytest.mark.backend_independent

# fastText's .vec is word2vec text; "vec" is its alias.
TEXT_FORMATS = [None, "word2vec_text", "vec", "glove"]


def write(tmp_path, data, name="v.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("format", TEXT_FORMATS)
@pytest.mark.parametrize("first_line", [b"-5 3", b"3.5 2", b"3 -2", b"2 3.0", b"1e3 3"])
def test_first_line_that_looks_like_a_broken_header_is_an_error_naming_line_1(
    tmp_path, format, first_line
):
    # Never two 1-d vectors, one of them for the word "a 1 2".
    path = write(tmp_path, first_line + b"\na 1 2 3\nb 4 5 6\n")
    with pytest.raises(VectorsFileError, match=r"v\.txt, line 1: ") as error:
        load(path, format=format)
    assert repr(first_line) in str(error.value)


def test_valid_header_in_a_file_loaded_as_glove_suggests_word2vec_text(tmp_path):
    path = write(tmp_path, b"2 3\na 1 2 3\nb 4 5 6\n")
    with pytest.raises(VectorsFileError, match="line 1: .*format='word2vec_text'"):
        load(path, format="glove")
    assert load(path).words == ["a", "b"]


@pytest.mark.parametrize("format", [None, "glove"])
def test_two_numbers_first_line_of_a_one_dimensional_glove_file_is_a_vector(tmp_path, format):
    # Every line holds a word and one number: the first line agrees with the rest.
    path = write(tmp_path, b"-5 3\nb 4\nc 0.5\n")
    loaded = load(path, format=format)
    assert loaded.format == "glove"
    assert loaded.words == ["-5", "b", "c"]
    np.testing.assert_array_equal(loaded.matrix, [[3.0], [4.0], [0.5]])


@pytest.mark.parametrize("format", [None, "glove"])
@pytest.mark.parametrize(
    "body, line, found",
    [
        (b"a 1 2 3\nb 1 2\nc 1 2 3\nd 1 2 3\n", 2, 2),  # too few numbers
        (b"a 1 2 3\nb 1 2 3 4\nc 1 2 3\nd 1 2 3\n", 2, 4),  # too many: not a word "b 1"
        (b"a 1 2 3\nb 1 2 3\nc 1 2 3\nd 7 1 2 3\n", 4, 4),
    ],
)
def test_headerless_line_with_a_different_count_of_numbers_names_the_line(
    tmp_path, format, body, line, found
):
    path = write(tmp_path, body)
    with pytest.raises(
        VectorsFileError, match=rf"line {line}: expected a word and 3 numbers.*found {found}"
    ):
        load(path, format=format)


@pytest.mark.parametrize("format", ["word2vec_text", "vec"])
@pytest.mark.parametrize("body, line", [(b"a 1 2 3\nb 1 2\n", 3), (b"a 1 2 3\nb 0 1 2 3\n", 3)])
def test_word2vec_text_line_with_a_different_count_of_numbers_names_the_line(
    tmp_path, format, body, line
):
    path = write(tmp_path, b"2 3\n" + body + b"\n" * 20)  # Padding defeats the size pre-check.
    with pytest.raises(VectorsFileError, match=rf"line {line}: expected a word and 3 numbers"):
        load(path, format=format)


def test_headerless_dimension_is_the_most_common_count_of_numbers(tmp_path):
    # Tokens with spaces add fields, not numbers: ". . ." and "new york" leave it at 2.
    path = write(tmp_path, b". . . 1 2\nnew york 3 4\nx 5 6\n")
    loaded = load(path)
    assert loaded.dim == 2
    assert loaded.words == [". . .", "new york", "x"]


def test_headerless_dimension_ties_go_to_the_earliest_count(tmp_path):
    # One line with 2 numbers, one with 3: the first decides, the second is the error.
    path = write(tmp_path, b"a 1 2\nb 1 2 3\n")
    with pytest.raises(VectorsFileError, match=r"line 2: expected a word and 2 numbers.*found 3"):
        load(path, format="glove")


def test_large_one_dimensional_glove_file_with_a_two_number_first_line_loads(tmp_path):
    # Format guessing samples the first 64 KB, which cuts a line short: that line is not judged.
    lines = [b"-5 3"] + [b"w%05d" % i + b"x" * 390 + b" 0.5" for i in range(200)]
    data = b"\n".join(lines) + b"\n"
    assert b" " not in data[65536 - 100 : 65536]  # The sample ends inside a word.
    path = write(tmp_path, data)
    loaded = load(path)
    assert loaded.format == "glove"
    assert loaded.words[0] == "-5" and len(loaded) == 201
