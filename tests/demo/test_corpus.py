"""Specification of the demo's offline data: docstring corpus, tokenizer, sequences, baseline."""

import json
import pathlib
import textwrap

import numpy as np
import pytest

from keras_embed.demo import corpus as corpus_module
from keras_embed.demo.corpus import MASK_ID
from keras_embed.demo.corpus import PAD_ID
from keras_embed.demo.corpus import RESERVED_TOKENS
from keras_embed.demo.corpus import SEP_ID
from keras_embed.demo.corpus import UNK_ID
from keras_embed.demo.corpus import DocstringCorpus
from keras_embed.demo.corpus import WordTokenizer
from keras_embed.demo.corpus import build_docstring_corpus
from keras_embed.demo.corpus import default_cache_dir
from keras_embed.demo.corpus import extract_docstrings
from keras_embed.demo.corpus import load_docstring_corpus
from keras_embed.demo.corpus import make_sequences
from keras_embed.demo.corpus import module_name
from keras_embed.demo.corpus import most_frequent_token_id
from keras_embed.demo.corpus import prepare_demo_data
from keras_embed.demo.corpus import split_sentences
from keras_embed.demo.corpus import split_train_held_out
from keras_embed.demo.corpus import stdlib_source_files
from keras_embed.demo.corpus import unigram_baseline_accuracy

pytestmark = pytest.mark.backend_independent

# The first dozen sorted stdlib files (`__future__` ... `_py_abc`) parse in ~0.1 s.
SMALL_LIMIT = 12

KNOWN_SOURCE = textwrap.dedent(
    '''
    """Module summary."""

    import sys

    def first():
        """First function."""

    class Shape:
        """A shape.

        >>> Shape().area()
        0
        >>> for side in range(2):
        ...     print(side)
        0
        1

        After the example.
        """

        def area(self):
            """Area of the shape."""
            def helper():
                """Nested helper."""

        def undocumented(self):
            pass

    if sys.platform:
        async def fetch():
            """Defined inside an if block."""
    '''
)


def write_tree(root, files):
    for relative, text in files.items():
        path = pathlib.Path(root, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pathlib.Path(root)


def make_corpus(documents):
    return DocstringCorpus(documents=list(documents), python_version="3.0.0")


# Extracting docstrings.


def test_extract_docstrings_names_every_definition_in_source_order():
    names = [name for name, _ in extract_docstrings(KNOWN_SOURCE, "pkg.mod")]
    assert names == [
        "pkg.mod",
        "pkg.mod.first",
        "pkg.mod.Shape",
        "pkg.mod.Shape.area",
        "pkg.mod.Shape.area.helper",
        "pkg.mod.fetch",
    ]


def test_extract_docstrings_drops_doctest_examples_and_their_output():
    texts = dict(extract_docstrings(KNOWN_SOURCE, "mod"))
    assert texts["mod.Shape"] == "A shape.\n\n\nAfter the example."


def test_extract_docstrings_reads_bytes_with_a_coding_cookie():
    source = '# -*- coding: latin-1 -*-\n"""Caf\xe9 docs."""\n'.encode("latin-1")
    assert extract_docstrings(source, "m") == [("m", "Caf\u00e9 docs.")]


def test_module_name_drops_init_and_suffix():
    root = pathlib.Path("/lib")
    assert module_name(root / "json" / "__init__.py", root) == "json"
    assert module_name(root / "json" / "decoder.py", root) == "json.decoder"


def test_source_files_are_sorted_and_skip_tests_and_site_packages(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "zeta.py": "",
            "alpha/__init__.py": "",
            "alpha/beta.py": "",
            "alpha/tests/test_beta.py": "",
            "test/test_zeta.py": "",
            "site-packages/thirdparty.py": "",
            "notes.txt": "",
        },
    )
    found = [path.relative_to(root).as_posix() for path in stdlib_source_files(root)]
    assert found == ["alpha/__init__.py", "alpha/beta.py", "zeta.py"]


def test_build_skips_files_that_do_not_parse(tmp_path):
    root = write_tree(
        tmp_path,
        {"good.py": '"""Good module."""\n', "broken.py": 'print "python 2"\n'},
    )
    corpus = build_docstring_corpus(stdlib_dir=root)
    assert corpus.documents == [("good", "Good module.")]


def test_build_limit_reads_only_the_first_files(tmp_path):
    root = write_tree(tmp_path, {f"m{i}.py": f'"""Module {i}."""\n' for i in range(5)})
    corpus = build_docstring_corpus(stdlib_dir=root, limit=2)
    assert corpus.documents == [("m0", "Module 0."), ("m1", "Module 1.")]


def test_build_from_the_real_stdlib_is_deterministic():
    first = build_docstring_corpus(limit=SMALL_LIMIT)
    second = build_docstring_corpus(limit=SMALL_LIMIT)
    assert first == second
    assert first.documents[0][0] == "__future__"
    assert first.num_words > 1000


def test_describe_reports_size_in_megabytes_and_words():
    corpus = make_corpus([("m", "one two three"), ("n", "four")])
    assert corpus.describe() == "2 docstrings, 0.0 MB, 0k words (Python 3.0.0)"
    assert (corpus.num_bytes, corpus.num_words) == (17, 4)


# The cache.


def test_default_cache_dir_respects_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "keras-embed"


def test_default_cache_dir_falls_back_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "keras-embed"


def test_default_cache_dir_ignores_a_relative_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "keras-embed"


def test_load_writes_the_cache_then_reuses_it(monkeypatch, tmp_path):
    first = load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("stdlib-docstrings-*.json"))) == 1

    def must_not_rebuild(*args, **kwargs):
        raise AssertionError("the cached corpus should have been reused")

    monkeypatch.setattr(corpus_module, "build_docstring_corpus", must_not_rebuild)
    assert load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path) == first


def test_load_uses_the_user_cache_folder_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_docstring_corpus(limit=SMALL_LIMIT)
    assert len(list((tmp_path / "keras-embed").glob("stdlib-docstrings-*.json"))) == 1


def test_cache_is_keyed_by_limit(tmp_path):
    small = load_docstring_corpus(limit=2, cache_dir=tmp_path)
    larger = load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path)
    assert len(small.documents) < len(larger.documents)
    assert len(list(tmp_path.glob("stdlib-docstrings-*.json"))) == 2


def test_damaged_cache_is_rebuilt(tmp_path):
    expected = load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("stdlib-docstrings-*.json")
    cache_file.write_text('{"format": 1, "documents": [')  # cut off mid-write
    assert load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path) == expected
    assert json.loads(cache_file.read_text())["documents"]


def test_refresh_rebuilds_despite_the_cache(monkeypatch, tmp_path):
    load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path)
    calls = []
    real_build = corpus_module.build_docstring_corpus

    def counting_build(*args, **kwargs):
        calls.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(corpus_module, "build_docstring_corpus", counting_build)
    load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path, refresh=True)
    assert calls == [1]


def test_cache_write_leaves_no_temporary_files(tmp_path):
    load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=tmp_path)
    assert [path.suffix for path in tmp_path.iterdir()] == [".json"]


def test_unwritable_cache_warns_and_still_returns_the_corpus(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="Could not cache"):
        corpus = load_docstring_corpus(limit=SMALL_LIMIT, cache_dir=blocker / "cache")
    assert corpus.documents


# Sentences and the held-out split.


def test_split_sentences_on_known_text():
    text = "Return the list.  It is\nsorted, e.g. by name!\n\nSee also: the docs\nfor details.\nOK."
    assert split_sentences(text) == [
        "Return the list.",
        "It is sorted, e.g. by name!",
        "See also: the docs for details.",
    ]


def test_held_out_split_is_disjoint_and_deterministic():
    documents = [(f"mod.f{i}", f"Function number {i} does thing {i}.") for i in range(400)]
    documents.append(("mod.copy", "Function number 1 does thing 1."))  # repeats a training text
    corpus = make_corpus(documents)
    train, held_out = split_train_held_out(corpus, held_out_fraction=0.2)
    assert not set(s.lower() for s in train) & set(s.lower() for s in held_out)
    assert split_train_held_out(corpus, held_out_fraction=0.2) == (train, held_out)
    # 401 documents each held out with probability 0.2: 80 +- 8 expected.
    assert 50 < len(held_out) < 110
    assert len(train) + len(held_out) <= 401


def test_held_out_split_drops_sentences_repeated_in_training():
    repeated = "Return a copy of the mapping."
    documents = [(f"m.{i}", repeated) for i in range(200)]
    train, held_out = split_train_held_out(make_corpus(documents), held_out_fraction=0.5)
    assert train and held_out == []


def test_held_out_split_rejects_a_fraction_of_one():
    with pytest.raises(ValueError, match=r"`held_out_fraction` must be a number in \[0, 1\)"):
        split_train_held_out(make_corpus([]), held_out_fraction=1.0)


# The tokenizer.


def test_reserved_tokens_take_the_first_ids():
    tokenizer = WordTokenizer.from_texts(["the list"], min_frequency=1)
    assert tokenizer.vocabulary[:4] == ["[PAD]", "[UNK]", "[MASK]", "[SEP]"]
    assert (PAD_ID, UNK_ID, MASK_ID, SEP_ID) == (0, 1, 2, 3)
    assert [tokenizer.token_to_id(t) for t in RESERVED_TOKENS] == [0, 1, 2, 3]


def test_vocabulary_ranks_by_frequency_then_alphabet():
    # "the" x3, "a" x2, "list" x2, "file" x1.
    tokenizer = WordTokenizer.from_texts(["The list", "the file, a list", "a the"], min_frequency=1)
    assert tokenizer.vocabulary[4:] == ["the", "a", "list", ",", "file"]


def test_min_frequency_and_max_size_bound_the_vocabulary():
    texts = ["alpha alpha alpha beta beta gamma"]
    assert WordTokenizer.from_texts(texts, min_frequency=2).vocabulary[4:] == ["alpha", "beta"]
    assert WordTokenizer.from_texts(texts, max_vocabulary_size=5, min_frequency=1).vocabulary[
        4:
    ] == ["alpha"]


def test_tokenize_lowercases_and_splits_punctuation_for_code_docs():
    tokens = WordTokenizer.tokenize("Call os.path.join(a, b) -- it's __init__'s job; UTF8!")
    assert tokens == [
        "call", "os", ".", "path", ".", "join", "(", "a", ",", "b", ")", "-", "-",
        "it", "'s", "__init__", "'s", "job", ";", "utf8", "!",
    ]  # fmt: skip


def test_encode_known_text_gives_known_ids_and_unk_for_unseen_words():
    tokenizer = WordTokenizer(list(RESERVED_TOKENS) + ["the", "list", "."])
    assert tokenizer.encode("The list. The zebra.") == [4, 5, 6, 4, UNK_ID, 6]


def test_encode_pads_and_truncates_to_a_sequence_length():
    tokenizer = WordTokenizer(list(RESERVED_TOKENS) + ["a", "b"])
    np.testing.assert_array_equal(tokenizer.encode("a b a", sequence_length=5), [4, 5, 4, 0, 0])
    np.testing.assert_array_equal(tokenizer.encode("a b a", sequence_length=2), [4, 5])
    assert tokenizer.encode("a", sequence_length=3).dtype == np.int32


def test_decode_round_trips_known_prose():
    text = "Return the object's list (sorted), or None; don't raise: see [the docs]!"
    tokenizer = WordTokenizer.from_texts([text], min_frequency=1)
    assert tokenizer.decode(tokenizer.encode(text)) == text.lower()


def test_decode_drops_padding_and_names_other_reserved_tokens():
    tokenizer = WordTokenizer(list(RESERVED_TOKENS) + ["the", "list"])
    decoded = tokenizer.decode([4, MASK_ID, SEP_ID, UNK_ID, PAD_ID, PAD_ID])
    assert decoded == "the [MASK] [SEP] [UNK]"


def test_building_twice_gives_the_same_vocabulary():
    texts = ["b a c", "c b", "a d e", "e"]
    assert WordTokenizer.from_texts(texts, min_frequency=1).vocabulary == (
        WordTokenizer.from_texts(list(reversed(texts)), min_frequency=1).vocabulary
    )


def test_tokenizer_saves_and_loads(tmp_path):
    tokenizer = WordTokenizer.from_texts(["Le caf\u00e9 is open."], min_frequency=1)
    path = tmp_path / "vocabulary.json"
    tokenizer.save(path)
    assert WordTokenizer.load(path).vocabulary == tokenizer.vocabulary


def test_tokenizer_rejects_a_vocabulary_without_reserved_tokens():
    with pytest.raises(ValueError, match="must start with the reserved tokens"):
        WordTokenizer(["the", "list"])


def test_tokenizer_rejects_a_tiny_maximum_size():
    with pytest.raises(ValueError, match="`max_vocabulary_size` must be an integer >= 5"):
        WordTokenizer.from_texts(["a"], max_vocabulary_size=4)


# Packed sequences.


def test_make_sequences_packs_sentences_with_separators_and_pads_the_end():
    tokenizer = WordTokenizer(list(RESERVED_TOKENS) + ["a", "b", "c"])
    rows = make_sequences(["a b", "c", "a b c"], tokenizer, sequence_length=4)
    # Stream: a b SEP c SEP a b c SEP -> 9 ids in rows of 4, 3 pads at the end.
    assert rows.tolist() == [[4, 5, 3, 6], [3, 4, 5, 6], [3, 0, 0, 0]]
    assert rows.dtype == np.int32


def test_make_sequences_rejects_a_zero_length():
    tokenizer = WordTokenizer(list(RESERVED_TOKENS))
    with pytest.raises(ValueError, match="`sequence_length` must be a positive integer"):
        make_sequences(["a"], tokenizer, sequence_length=0)


def test_prepare_demo_data_on_a_slice_of_the_stdlib(tmp_path):
    data = prepare_demo_data(
        limit=SMALL_LIMIT, sequence_length=16, min_frequency=1, cache_dir=tmp_path
    )
    assert data.train_sequences.shape[1] == data.held_out_sequences.shape[1] == 16
    assert len(data.train_sequences) > len(data.held_out_sequences) > 0
    assert data.train_sequences.max() < data.tokenizer.vocabulary_size
    assert not set(data.train_sentences) & set(data.held_out_sentences)


def test_vocabulary_comes_from_training_sentences_only(tmp_path):
    data = prepare_demo_data(limit=SMALL_LIMIT, min_frequency=1, cache_dir=tmp_path)
    training_tokens = set()
    for sentence in data.train_sentences:
        training_tokens.update(WordTokenizer.tokenize(sentence))
    assert set(data.tokenizer.vocabulary[4:]) <= training_tokens


# The unigram baseline.


def test_most_frequent_token_ignores_reserved_ids():
    # PAD (0) and SEP (3) dominate, but 9 is the commonest real token.
    token_ids = np.array([[0, 0, 0, 3, 3, 9, 9, 5], [0, 0, 0, 3, 9, 5, 7, 0]])
    assert most_frequent_token_id(token_ids) == 9


def test_unigram_baseline_scores_the_share_of_masks_equal_to_the_commonest_token():
    train = np.array([[9, 9, 9, 5, 0, 0]])
    mask_ids = np.array([[9, 5, 0], [9, 9, 7]])
    mask_weights = np.array([[1, 1, 0], [1, 1, 1]], dtype="float32")
    # Real masked targets: 9, 5, 9, 9, 7 -> 3 of 5 equal the guess 9.
    assert unigram_baseline_accuracy(train, mask_ids, mask_weights) == pytest.approx(0.6)


def test_unigram_baseline_rejects_data_without_masks():
    with pytest.raises(ValueError, match="no masked positions"):
        unigram_baseline_accuracy([[5, 5]], [[5, 0]], [[0.0, 0.0]])
