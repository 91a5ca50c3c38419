"""`keras-embed vectors info|convert|neighbors`, run through the parser as the CLI does."""

import argparse

import numpy as np
import pytest

from keras_embed.vectors import Vectors, load, save
from keras_embed.vectors.cli import add_subparser

pytestmark = pytest.mark.backend_independent


def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="keras-embed")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["vectors", *argv])
    return args.handler(args)


@pytest.fixture
def vector_file(tmp_path):
    matrix = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], np.float32)
    path = str(tmp_path / "v.bin")
    save(Vectors(["king", "queen", "apple", "anti"], matrix), path)
    return path


def test_info_prints_format_size_and_words(vector_file, capsys):
    assert run_cli("info", vector_file) == 0
    out = capsys.readouterr().out
    assert "format:  word2vec_binary" in out
    assert "vectors: 4 x 2 (float32)" in out
    assert "'king', 'queen'" in out


def test_convert_writes_a_file_that_loads_back_identically(vector_file, tmp_path, capsys):
    output = str(tmp_path / "out.txt")
    assert run_cli("convert", vector_file, output, "--to", "glove") == 0
    converted, original = load(output), load(vector_file)
    assert converted.format == "glove" and converted.words == original.words
    np.testing.assert_array_equal(converted.matrix, original.matrix)


def test_neighbors_prints_nearest_words_best_first(vector_file, capsys):
    assert run_cli("neighbors", vector_file, "king", "--topn", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "king:"
    assert lines[1].split() == ["0.9939", "queen"]  # cos = 0.9 / sqrt(0.82)
    assert lines[2].split() == ["0.0000", "apple"]


def test_unknown_word_is_an_error_with_exit_code_2(vector_file, capsys):
    assert run_cli("neighbors", vector_file, "nope") == 2
    assert "'nope' is not in the vocabulary" in capsys.readouterr().err


def test_malformed_file_is_an_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "bad.vec"
    path.write_bytes(b"2 2\na 1.000 2.000\nb 1.000 x\n")
    assert run_cli("info", str(path)) == 2
    assert f"{path}, line 3" in capsys.readouterr().err


def test_truncated_gzip_file_exits_with_a_message(tmp_path, capsys):
    from test_formats import truncated_gzip

    assert run_cli("info", truncated_gzip(tmp_path)) == 2
    error = capsys.readouterr().err
    assert "the gzip stream is cut short or damaged" in error and "Traceback" not in error
