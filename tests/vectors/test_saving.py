"""Saving vector files: permissions, atomicity, exact numbers, and peers reading them back."""

import os
import stat

import numpy as np
import pytest
from _writers import text_lines, word2vec_binary_bytes

from keras_embed.vectors import Vectors, load, save
from keras_embed.vectors import _float_text, formats

pytestmark = pytest.mark.backend_independent

FILE_FORMATS = [
    ("v.bin", None),
    ("v.vec", None),
    ("g.txt", "glove"),
    ("v.bin.gz", None),
    ("v.vec.xz", None),
]


@pytest.fixture
def vectors():
    words = ["the", "naïve", "東京", "w3"]
    matrix = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    return Vectors(words, matrix)


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring the previous one after."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def all_float32(count, seed=0):
    """Finite float32 values from random bit patterns: every exponent, subnormals, -0."""
    bits = np.random.default_rng(seed).integers(0, 2**32, size=count, dtype=np.uint64)
    values = bits.astype(np.uint32).view(np.float32)
    values = values[np.isfinite(values)]
    return np.concatenate([values, np.array([0.0, -0.0, 1e-45, -3.4028235e38], np.float32)])


# Permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600)])
@pytest.mark.parametrize("name, format", FILE_FORMATS)
def test_new_file_gets_the_mode_open_gives_under_the_umask(
    tmp_path, vectors, umask, mask, expected, name, format
):
    # open(path, "w") creates files 0o666 less the umask.
    umask(mask)
    save(vectors, str(tmp_path / name), format=format)
    reference = tmp_path / "plain"
    with open(reference, "w"):
        pass
    assert mode_of(tmp_path / name) == mode_of(reference) == expected


@pytest.mark.parametrize("mask, expected", [(0o022, 0o755), (0o077, 0o700)])
def test_native_directory_gets_the_mode_mkdir_gives_under_the_umask(
    tmp_path, vectors, umask, mask, expected
):
    umask(mask)
    save(vectors, str(tmp_path / "native"))
    assert mode_of(tmp_path / "native") == expected
    for name in os.listdir(tmp_path / "native"):
        assert mode_of(tmp_path / "native" / name) == expected & 0o666


@pytest.mark.parametrize("name, format", FILE_FORMATS[:3])
def test_replaced_file_keeps_its_mode(tmp_path, vectors, umask, name, format):
    # open(path, "w") on an existing file keeps its mode, whatever the umask.
    path = tmp_path / name
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    umask(0o077)
    save(vectors, str(path), format=format)
    assert mode_of(path) == 0o640
    assert load(str(path), format=format).words == vectors.words


def test_convert_command_writes_files_with_the_umask_mode(tmp_path, vectors, umask):
    from test_cli import run_cli

    umask(0o022)
    source = str(tmp_path / "v.bin")
    save(vectors, source)
    assert run_cli("convert", source, str(tmp_path / "out.vec")) == 0
    assert mode_of(tmp_path / "out.vec") == 0o644


def test_convert_command_passes_precision_to_text_output(tmp_path, vectors, capsys):
    from test_cli import run_cli

    source = str(tmp_path / "v.bin")
    save(vectors, source)
    assert run_cli("convert", source, str(tmp_path / "out.vec"), "--precision", "3") == 0
    first = (tmp_path / "out.vec").read_text().splitlines()[1].split()
    assert first[1:] == ["%.3g" % value for value in vectors.matrix[0].tolist()]


def test_symbolic_link_is_written_through_as_open_does(tmp_path, vectors):
    target = tmp_path / "real.vec"
    target.write_bytes(b"old")
    link = tmp_path / "link.vec"
    os.symlink(target, link)
    save(vectors, str(link))
    assert os.path.islink(link)
    assert load(str(target)).words == vectors.words


# Atomicity --------------------------------------------------------------------------------


@pytest.mark.parametrize("durable", [False, True])
@pytest.mark.parametrize("name, format", [("v.bin", None), ("v.vec", None), ("g.txt", "glove")])
def test_write_interrupted_midway_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path, vectors, monkeypatch, name, format, durable
):
    format = format or formats._SAVE_SUFFIXES[os.path.splitext(name)[1]]
    real_writer = formats.WRITERS[format]
    path = tmp_path / name
    path.write_bytes(b"old content")

    def dies_midway(vectors, stream, path, **options):
        real_writer(vectors, stream, path, **options)  # The whole file is written ...
        assert open(path, "rb").read() == b"old content"  # ... but not yet in place.
        raise KeyboardInterrupt  # Then the process is interrupted.

    monkeypatch.setitem(formats.WRITERS, format, dies_midway)
    with pytest.raises(KeyboardInterrupt):
        save(vectors, str(path), format=format, durable=durable)
    assert os.listdir(tmp_path) == [name]
    assert path.read_bytes() == b"old content"


# Durability -------------------------------------------------------------------------------


@pytest.fixture
def fsynced(monkeypatch):
    """The paths `os.fsync` was called on during the test (files and folders)."""
    paths = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        paths.append(os.path.realpath(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return paths


@pytest.mark.parametrize("name, format", FILE_FORMATS + [("native", None)])
def test_save_waits_for_the_disk_only_when_durable(tmp_path, vectors, fsynced, name, format):
    path = tmp_path / name
    save(vectors, str(path), format=format)
    assert fsynced == []
    save(vectors, str(path), format=format, durable=True)
    # The data reaches the disk before the rename, the rename after it.
    assert fsynced[-1] == str(tmp_path)
    data = [synced for synced in fsynced if synced != str(tmp_path)]
    if name == "native":
        assert {os.path.basename(synced) for synced in data} >= {
            "vectors.npy", "vocab.txt", "meta.json"
        }
    else:
        assert len(data) == 1 and os.path.basename(data[0]).endswith(".partial")
    assert load(str(path), format=format).words == vectors.words


def test_convert_command_durable_flag_fsyncs(tmp_path, vectors, fsynced):
    from test_cli import run_cli

    source = str(tmp_path / "v.bin")
    save(vectors, source)
    assert run_cli("convert", source, str(tmp_path / "out.vec")) == 0
    assert fsynced == []
    assert run_cli("convert", source, str(tmp_path / "out.vec"), "--durable") == 0
    assert fsynced[-1] == str(tmp_path)


def test_durable_must_be_a_bool(tmp_path, vectors):
    with pytest.raises(ValueError, match=r"`durable` must be True or False. Received: durable=1"):
        save(vectors, str(tmp_path / "v.bin"), durable=1)
    assert os.listdir(tmp_path) == []


def test_refused_word_in_a_later_block_names_its_row_and_leaves_nothing(tmp_path, monkeypatch):
    from keras_embed.vectors import word2vec

    monkeypatch.setattr(word2vec, "_WRITE_BLOCK_BYTES", 100)  # Blocks of 4 rows.
    words = [f"w{i}" for i in range(10)]
    words[7] = "new york"
    with pytest.raises(ValueError, match=r"word 7 is 'new york'"):
        save(Vectors(words, np.ones((10, 2), np.float32)), str(tmp_path / "v.bin"))
    assert os.listdir(tmp_path) == []


# Exact numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("precision", [None, 1, 4, 9])
def test_text_values_are_written_exactly_as_python_percent_g(tmp_path, precision):
    # The oracle: Python's own "%.{p}g", one value at a time.
    values = all_float32(3000, seed=precision or 0)[:2400].reshape(-1, 8)
    words = [f"w{i}" for i in range(len(values))]
    path = tmp_path / "v.txt"
    save(Vectors(words, values), str(path), format="glove", precision=precision)
    expected = text_lines(words, values, fmt="{:.%dg}" % (precision or 9))
    assert path.read_text() == expected


def test_text_round_trip_reproduces_every_float32_bit_pattern(tmp_path):
    values = all_float32(40_000, seed=1)
    values = values[: len(values) // 10 * 10].reshape(-1, 10)
    words = [f"w{i}" for i in range(len(values))]
    for name, format in [("v.vec", None), ("g.txt", "glove")]:
        save(Vectors(words, values), str(tmp_path / name), format=format)
        loaded = load(str(tmp_path / name), format=format)
        np.testing.assert_array_equal(loaded.matrix.view(np.uint32), values.view(np.uint32))


def test_binary_file_is_word2vec_c_layout_byte_for_byte(tmp_path, vectors):
    save(vectors, str(tmp_path / "v.bin"))
    expected = word2vec_binary_bytes(vectors.words, vectors.matrix)
    assert (tmp_path / "v.bin").read_bytes() == expected


def test_words_holding_nul_characters_are_written_intact(tmp_path):
    # The block formatter drops NUL bytes, so such blocks take the per-line path.
    words = ["a\x00b", "c"]
    matrix = np.array([[0.5, -1.25], [3.0, 1e-7]], np.float32)
    save(Vectors(words, matrix), str(tmp_path / "v.vec"))
    assert (tmp_path / "v.vec").read_bytes() == ("2 2\n" + text_lines(words, matrix)).encode()


def test_float64_matrix_is_written_as_float32(tmp_path):
    matrix = np.array([[0.1, 1 / 3]])
    save(Vectors(["a"], matrix), str(tmp_path / "v.vec"))
    np.testing.assert_array_equal(load(str(tmp_path / "v.vec")).matrix, matrix.astype(np.float32))


@pytest.mark.parametrize("precision", [3, 6])
def test_precision_writes_that_many_significant_digits(tmp_path, precision):
    values = np.array([[123456.7, -0.000123456, 2.0, 1e-7]], np.float32)
    save(Vectors(["w"], values), str(tmp_path / "v.vec"), precision=precision)
    numbers = (tmp_path / "v.vec").read_text().splitlines()[1].split()[1:]
    assert numbers == [f"%.{precision}g" % value for value in values[0].tolist()]
    loaded = load(str(tmp_path / "v.vec")).matrix
    np.testing.assert_allclose(loaded, values, rtol=10.0 ** (1 - precision))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"precision": 0}, "`precision` must be an integer from 1 to 9"),
        ({"precision": 12}, "`precision` must be an integer from 1 to 9"),
        ({"precision": 2.5}, "`precision` must be an integer from 1 to 9"),
        ({"precision": 3, "format": "word2vec_binary"}, "`precision` applies to the text formats"),
    ],
)
def test_bad_precision_is_refused(tmp_path, vectors, kwargs, match):
    with pytest.raises(ValueError, match=match):
        save(vectors, str(tmp_path / "v.vec"), **kwargs)
    assert os.listdir(tmp_path) == []


def test_value_slots_agree_with_python_on_ties_and_powers_of_ten():
    # Values whose float64 scaling cannot settle the rounding go through Python.
    values = np.array(
        [0.5, 2.5, 1e8, 99999999.5, 999999999.5, 1e-4, 9.9999997e-05, 1e9, 3.4028235e38],
        np.float32,
    ).astype(np.float64)
    slots = _float_text.value_slots(values, 9, np.full(values.shape, ord(" "), np.uint8))
    text = np.ascontiguousarray(slots.T)
    assert text[text != 0].tobytes().decode() == "".join("%.9g " % v for v in values.tolist())


# Peers read what we write -----------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False])
def test_gensim_reads_our_files_bit_identically(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    values = all_float32(5000, seed=2)[:4000].reshape(-1, 8)
    words = [f"w{i}" for i in range(len(values))]
    path = str(tmp_path / ("v.bin" if binary else "v.vec"))
    save(Vectors(words, values), path)
    theirs = gensim_models.KeyedVectors.load_word2vec_format(path, binary=binary)
    assert theirs.index_to_key == words
    np.testing.assert_array_equal(theirs.vectors.view(np.uint32), values.view(np.uint32))


def test_fasttext_reads_our_vec_file_bit_identically(tmp_path):
    # fastText reads a .vec as pretrained vectors; with lr=0 training leaves them as read.
    fasttext = pytest.importorskip("fasttext")
    words = ["alpha", "beta", "gamma", "delta"]
    values = all_float32(100, seed=3)
    # Huge values would overflow fastText's float32 sums (and inf * lr 0 is nan).
    values = values[np.abs(values) < 1e30][:20].reshape(4, 5)
    save(Vectors(words, values), str(tmp_path / "v.vec"))
    corpus = tmp_path / "train.txt"
    corpus.write_text("__label__a alpha beta\n__label__b gamma delta\n")
    model = fasttext.train_supervised(
        str(corpus), dim=5, pretrainedVectors=str(tmp_path / "v.vec"),
        epoch=1, lr=0.0, minCount=1, verbose=0, thread=1,
    )
    for word, row in zip(words, values):
        found = model.get_input_vector(model.get_word_id(word))
        np.testing.assert_array_equal(found.view(np.uint32), row.view(np.uint32))


def dead_process_id():
    """The id of a process that has exited (a save killed midway left its files)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("name, format", FILE_FORMATS + [("native", None)])
def test_save_removes_partial_files_of_killed_saves_of_the_same_target(tmp_path, vectors, name, format):
    killed = tmp_path / f".{name}.{dead_process_id()}-0123abcd.partial"
    killed.write_bytes(b"half a file")
    killed_folder = tmp_path / f".{name}.{dead_process_id()}-4567abcd.partial"
    killed_folder.mkdir()
    (killed_folder / "vectors.npy").write_bytes(b"half")
    running = tmp_path / f".{name}.{os.getpid()}-89abcdef.partial"  # a save in progress here
    running.write_bytes(b"in progress")
    other_target = tmp_path / f".other.vec.{dead_process_id()}-0123abcd.partial"
    other_target.write_bytes(b"not ours")
    save(vectors, str(tmp_path / name), format=format)
    assert sorted(os.listdir(tmp_path)) == sorted([name, running.name, other_target.name])
