"""Offline data for the demo: Python standard-library docstrings as an English corpus.

Every machine that runs Python has its standard library's sources, so their
docstrings (about 1.8 MB of English, 280k words, on CPython 3.11) make a corpus
that needs no download. This module builds that corpus, caches it, tokenizes it
into words and packs it into fixed-length training sequences:

    data = prepare_demo_data()                # corpus -> split -> vocabulary -> sequences
    data.train_sequences                      # int32 (num_sequences, 64)
    data.tokenizer.decode(data.held_out_sequences[0])

It also holds the unigram-frequency baseline that trained models must beat.
Only the standard library and numpy are used. Over 400 lines because the
corpus, its cache, the tokenizer and the sequence packing are one pipeline
that only the demo uses; each step is a short function.
"""

import ast
import collections
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import sys
import sysconfig
import tempfile
import warnings
import zlib

import numpy as np

from keras_embed._validation import check_integer, check_positive_int, describe, is_number

# Reserved ids, fixed whatever the corpus: padding must be 0 for masking layers.
PAD_ID, UNK_ID, MASK_ID, SEP_ID = 0, 1, 2, 3
RESERVED_TOKENS = ("[PAD]", "[UNK]", "[MASK]", "[SEP]")
RESERVED_IDS = (PAD_ID, UNK_ID, MASK_ID, SEP_ID)

# Bump when extraction or cleaning changes, so stale caches are not reused.
_CORPUS_FORMAT = 1
_SKIPPED_DIRECTORIES = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
)
_DOCTEST_PROMPT = re.compile(r"^\s*(>>>|\.\.\.)(\s|$)")
# A sentence ends at . ! or ? followed by a space and a capital, digit or opening mark.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[`])")
# Contraction suffixes ("'s", "n't" split as "'t") stay tokens of their own so
# "object's" shares the word "object"; then words; then single punctuation marks.
_TOKEN = re.compile(r"(?<=\w)'(?:s|t|re|ve|ll|d|m)\b|\w+|[^\w\s]")
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}")
_NO_SPACE_AFTER = frozenset("([{")


# ---------------------------------------------------------------------------
# Corpus: docstrings of the installed standard library.


@dataclasses.dataclass(frozen=True)
class DocstringCorpus:
    """The cleaned docstrings of a Python standard library.

    Attributes:
        documents: list of `(name, text)` pairs in a fixed order, where `name`
            is the dotted path of the module, class or function
            (`"json.decoder.JSONDecoder.decode"`) and `text` its docstring with
            doctest examples removed.
        python_version: the `major.minor.micro` version whose sources were read.
    """

    documents: list
    python_version: str

    @property
    def num_bytes(self):
        return sum(len(text.encode("utf-8")) for _, text in self.documents)

    @property
    def num_words(self):
        return sum(len(text.split()) for _, text in self.documents)

    def describe(self):
        """One line for humans, e.g. `8604 docstrings, 1.8 MB, 272k words (Python 3.11.7)`."""
        return (
            f"{len(self.documents)} docstrings, {self.num_bytes / 1e6:.1f} MB, "
            f"{self.num_words / 1e3:.0f}k words (Python {self.python_version})"
        )


def default_cache_dir():
    """`$XDG_CACHE_HOME/keras-embed`, or `~/.cache/keras-embed` when it is unset."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative paths in XDG_CACHE_HOME are to be ignored.
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "keras-embed"


def stdlib_source_files(stdlib_dir=None):
    """The `.py` files of the standard library, sorted, without tests or site-packages.

    Args:
        stdlib_dir: the folder to walk; defaults to the running interpreter's
            standard library.

    Returns:
        A sorted list of `pathlib.Path`s.
    """
    root = pathlib.Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise FileNotFoundError(
            f"`stdlib_dir` must be a folder of Python sources. Received: stdlib_dir={str(root)!r}."
        )
    files = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in _SKIPPED_DIRECTORIES)
        python_files = (name for name in sorted(names) if name.endswith(".py"))
        files.extend(pathlib.Path(directory, name) for name in python_files)
    return sorted(files, key=lambda path: path.relative_to(root).parts)


def module_name(path, root):
    """`json/decoder.py` -> `json.decoder`; `json/__init__.py` -> `json`."""
    parts = list(pathlib.Path(path).relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def extract_docstrings(source, module):
    """Docstrings of a module and of its classes and functions, in source order.

    Args:
        source: the module's source, `str` or `bytes` (bytes honour the coding
            cookie).
        module: the module's dotted name, the prefix of every returned name.

    Returns:
        A list of `(name, text)` pairs; `text` is the docstring with its
        indentation cleaned (`inspect.cleandoc`) and doctest examples removed.
        Empty docstrings are left out. Raises `SyntaxError` for invalid source.
    """
    documents = []

    def visit(node, name):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = _remove_doctests(ast.get_docstring(node, clean=True) or "")
            if text:
                documents.append((name, text))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"{name}.{child.name}")
            elif not isinstance(child, ast.expr):
                # Definitions nested in `if`/`try` blocks are still part of the module.
                visit(child, name)

    visit(ast.parse(source), module)
    return documents


def _remove_doctests(text):
    """Drop `>>>` examples, their `...` continuations and their printed output."""
    kept, in_example = [], False
    for line in text.splitlines():
        if _DOCTEST_PROMPT.match(line):
            in_example = True
        elif not line.strip():
            in_example = False
            kept.append(line)
        elif not in_example:
            kept.append(line)
    return "\n".join(kept).strip()


def build_docstring_corpus(stdlib_dir=None, limit=None):
    """Reads the standard library's docstrings now, without any cache.

    Args:
        stdlib_dir: the folder to walk; defaults to the running interpreter's
            standard library.
        limit: read only the first `limit` source files (sorted by path), for
            quick tests; `None` reads them all.

    Returns:
        A `DocstringCorpus`. Files that do not parse are skipped.
    """
    root = pathlib.Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    files = stdlib_source_files(root)
    if limit is not None:
        files = files[: check_integer("limit", limit, minimum=0)]
    documents = []
    for path in files:
        try:
            documents.extend(extract_docstrings(path.read_bytes(), module_name(path, root)))
        except (SyntaxError, ValueError, OSError):
            continue  # e.g. deliberately broken files shipped as test data
    version = ".".join(str(part) for part in sys.version_info[:3])
    return DocstringCorpus(documents=documents, python_version=version)


def load_docstring_corpus(limit=None, cache_dir=None, refresh=False, stdlib_dir=None):
    """The docstring corpus, read from the cache when it was built before.

    The first call walks the standard library (a few seconds) and writes a JSON
    file under `cache_dir`; later calls read it back. The file name records the
    Python version, the library's folder and `limit`, so a different
    interpreter never reuses another's corpus.

    Args:
        limit: read only the first `limit` source files (for tests).
        cache_dir: folder for the cache; defaults to `default_cache_dir()`
            (`$XDG_CACHE_HOME/keras-embed` or `~/.cache/keras-embed`).
        refresh: rebuild even when a cached copy exists.
        stdlib_dir: the folder to walk; defaults to the running interpreter's
            standard library.

    Returns:
        A `DocstringCorpus`. If the cache cannot be written (read-only home),
        a warning is issued and the freshly built corpus is returned.
    """
    root = pathlib.Path(stdlib_dir or sysconfig.get_paths()["stdlib"]).resolve()
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / _cache_file_name(root, limit)
    if not refresh:
        corpus = _read_cache(path)
        if corpus is not None:
            return corpus
    corpus = build_docstring_corpus(root, limit)
    payload = {
        "format": _CORPUS_FORMAT,
        "python_version": corpus.python_version,
        "stdlib_dir": str(root),
        "limit": limit,
        "documents": corpus.documents,
    }
    try:
        _write_atomically(path, json.dumps(payload, ensure_ascii=False))
    except OSError as error:
        warnings.warn(f"Could not cache the docstring corpus at {path}: {error}", stacklevel=2)
    return corpus


def _cache_file_name(root, limit):
    version = ".".join(str(part) for part in sys.version_info[:3])
    key = hashlib.sha256(f"{root}|{limit}|{sys.version}".encode()).hexdigest()[:12]
    size = "all" if limit is None else f"limit{limit}"
    return f"stdlib-docstrings-v{_CORPUS_FORMAT}-py{version}-{size}-{key}.json"


def _read_cache(path):
    try:
        payload = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        if payload.get("format") != _CORPUS_FORMAT:
            return None
        documents = [(str(name), str(text)) for name, text in payload["documents"]]
        return DocstringCorpus(documents=documents, python_version=payload["python_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: rebuild


def _write_atomically(path, text):
    """Write to a temporary file beside `path`, then rename, so readers never see half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# ---------------------------------------------------------------------------
# Sentences and the held-out split.


def split_sentences(text, min_words=3):
    """Splits a docstring into sentences, one paragraph's lines joined into one.

    Paragraphs are separated by blank lines; inside a paragraph a sentence ends
    at `.`, `!` or `?` followed by whitespace and a capital letter, digit or
    opening mark (so "e.g. the" does not end one).

    Args:
        text: a docstring.
        min_words: sentences with fewer whitespace-separated words are dropped.

    Returns:
        A list of sentences with single spaces.
    """
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        for sentence in _SENTENCE_BREAK.split(paragraph):
            if len(sentence.split()) >= min_words:
                sentences.append(sentence)
    return sentences


def split_train_held_out(corpus, held_out_fraction=0.1, min_words=3):
    """Sentences for training and disjoint sentences for evaluation.

    Whole docstrings are assigned to one side by a stable hash of their name,
    so a held-out sentence's neighbours are held out too. Held-out sentences
    whose text (ignoring case) also occurs in training are then dropped, since
    the standard library repeats some docstrings verbatim (`decimal` and
    `_pydecimal`, for one).

    Args:
        corpus: a `DocstringCorpus`.
        held_out_fraction: float in `[0, 1)`, the share of docstrings held out.
        min_words: passed to `split_sentences`.

    Returns:
        `(train_sentences, held_out_sentences)`, two lists of strings in corpus
        order, the same on every run.
    """
    if not is_number(held_out_fraction) or not 0 <= held_out_fraction < 1:
        raise ValueError(
            "`held_out_fraction` must be a number in [0, 1). "
            f"Received: held_out_fraction={describe(held_out_fraction)}."
        )
    train, held_out = [], []
    for name, text in corpus.documents:
        bucket = zlib.crc32(name.encode("utf-8")) % 10_000
        side = held_out if bucket < held_out_fraction * 10_000 else train
        side.extend(split_sentences(text, min_words=min_words))
    seen_in_training = {sentence.lower() for sentence in train}
    held_out = [sentence for sentence in held_out if sentence.lower() not in seen_in_training]
    return train, held_out


# ---------------------------------------------------------------------------
# Word-level tokenizer.


class WordTokenizer:
    """Lower-cased word-level tokenizer with a frequency-ranked vocabulary.

    Text is lower-cased and split into words (runs of letters, digits and
    underscores, so `__init__` and `utf8` stay whole), contraction suffixes
    (`'s`, `'t`, `'re`, ...) and single punctuation marks. A dotted name such
    as `os.path.join` becomes `os . path . join`, which keeps the vocabulary
    small and its words frequent.

    Ids `0..3` are reserved for `[PAD]`, `[UNK]`, `[MASK]` and `[SEP]`
    (`PAD_ID`, `UNK_ID`, `MASK_ID`, `SEP_ID`); the rest of the vocabulary
    follows in order of decreasing frequency, ties broken alphabetically.

    Args:
        vocabulary: list of tokens; the first four must be `RESERVED_TOKENS`.
            Build one from text with `WordTokenizer.from_texts`.
    """

    def __init__(self, vocabulary):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                f"`vocabulary` must start with the reserved tokens {list(RESERVED_TOKENS)}. "
                f"Received: vocabulary[:4]={vocabulary[:4]!r}."
            )
        if len(set(vocabulary)) != len(vocabulary):
            duplicates = sorted(t for t, n in collections.Counter(vocabulary).items() if n > 1)
            raise ValueError(f"`vocabulary` holds duplicate tokens: {duplicates[:5]!r}.")
        self.vocabulary = vocabulary
        self._ids = {token: index for index, token in enumerate(vocabulary)}

    @classmethod
    def from_texts(cls, texts, max_vocabulary_size=5000, min_frequency=3):
        """Builds the vocabulary from the tokens of `texts`.

        Args:
            texts: iterable of strings (e.g. the training sentences only, so
                held-out text does not leak into the vocabulary).
            max_vocabulary_size: int, the most ids, reserved ones included.
            min_frequency: int, tokens seen fewer times map to `[UNK]`.

        Returns:
            A `WordTokenizer`.
        """
        for name, value, smallest in (
            ("max_vocabulary_size", max_vocabulary_size, len(RESERVED_TOKENS) + 1),
            ("min_frequency", min_frequency, 1),
        ):
            check_integer(name, value, minimum=smallest)
        counts = collections.Counter()
        for text in texts:
            counts.update(cls.tokenize(text))
        for token in RESERVED_TOKENS:
            counts.pop(token, None)
        ranked = sorted(
            (token for token, count in counts.items() if count >= min_frequency),
            key=lambda token: (-counts[token], token),
        )
        return cls(list(RESERVED_TOKENS) + ranked[: max_vocabulary_size - len(RESERVED_TOKENS)])

    @staticmethod
    def tokenize(text):
        """Lower-cases and splits text into tokens (strings), without looking anything up."""
        return _TOKEN.findall(text.lower())

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def token_to_id(self, token):
        """The id of `token`, or `UNK_ID` when it is not in the vocabulary."""
        return self._ids.get(token, UNK_ID)

    def id_to_token(self, token_id):
        return self.vocabulary[token_id]

    def encode(self, text, sequence_length=None):
        """Token ids of `text`.

        Args:
            text: a string.
            sequence_length: when given, the ids are truncated or padded with
                `PAD_ID` to this length and returned as an int32 numpy array.

        Returns:
            A list of ints, or an int32 array of shape `(sequence_length,)`.
        """
        ids = [self._ids.get(token, UNK_ID) for token in self.tokenize(text)]
        if sequence_length is None:
            return ids
        padded = np.full((sequence_length,), PAD_ID, dtype=np.int32)
        ids = ids[:sequence_length]
        padded[: len(ids)] = ids
        return padded

    def decode(self, token_ids):
        """Readable text from ids: `[PAD]` dropped, other reserved tokens shown by name.

        Spaces are left out before closing punctuation and contraction suffixes
        and after opening brackets, so encoding then decoding plain prose gives
        the prose back, lower-cased with single spaces.
        """
        pieces = []
        for token_id in np.asarray(token_ids).reshape(-1).tolist():
            if token_id == PAD_ID:
                continue
            token = self.vocabulary[token_id]
            glued = token in _NO_SPACE_BEFORE or token.startswith("'") and len(token) > 1
            if pieces and not glued and pieces[-1] not in _NO_SPACE_AFTER:
                pieces.append(" ")
            pieces.append(token)
        return "".join(pieces)

    def save(self, path):
        """Writes the vocabulary as JSON (atomically)."""
        _write_atomically(path, json.dumps({"vocabulary": self.vocabulary}, ensure_ascii=False))

    @classmethod
    def load(cls, path):
        payload = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        return cls(payload["vocabulary"])


# ---------------------------------------------------------------------------
# Training sequences.


def make_sequences(sentences, tokenizer, sequence_length=64):
    """Packs sentences into fixed-length rows of token ids for masked-LM training.

    The sentences are encoded, each followed by `SEP_ID`, concatenated into one
    stream and cut into rows of `sequence_length`, so no position is wasted on
    padding except at the end of the last row.

    Args:
        sentences: list of strings.
        tokenizer: a `WordTokenizer`.
        sequence_length: int, the length of each row.

    Returns:
        An int32 array of shape `(num_rows, sequence_length)`.
    """
    sequence_length = check_positive_int("sequence_length", sequence_length)
    stream = []
    for sentence in sentences:
        stream.extend(tokenizer.encode(sentence))
        stream.append(SEP_ID)
    num_rows = -(-len(stream) // sequence_length)
    rows = np.full((num_rows * sequence_length,), PAD_ID, dtype=np.int32)
    rows[: len(stream)] = stream
    return rows.reshape(num_rows, sequence_length)


@dataclasses.dataclass
class DemoData:
    """Everything the demo trains and evaluates on. See `prepare_demo_data`.

    Attributes:
        corpus: the `DocstringCorpus`.
        tokenizer: the `WordTokenizer`, its vocabulary built from training text only.
        train_sentences, held_out_sentences: disjoint lists of strings.
        train_sequences, held_out_sequences: int32 `(rows, sequence_length)`.
    """

    corpus: DocstringCorpus
    tokenizer: WordTokenizer
    train_sentences: list
    held_out_sentences: list
    train_sequences: np.ndarray
    held_out_sequences: np.ndarray


def prepare_demo_data(
    limit=None,
    sequence_length=64,
    max_vocabulary_size=5000,
    min_frequency=3,
    held_out_fraction=0.1,
    cache_dir=None,
):
    """Corpus, split, vocabulary and packed sequences in one call.

    Args:
        limit: read only the first `limit` standard-library files (tests).
        sequence_length: length of each packed row.
        max_vocabulary_size: most ids, the four reserved ones included.
        min_frequency: rarer training tokens become `[UNK]`.
        held_out_fraction: share of docstrings kept for evaluation.
        cache_dir: corpus cache folder; defaults to `default_cache_dir()`.

    Returns:
        A `DemoData`.
    """
    corpus = load_docstring_corpus(limit=limit, cache_dir=cache_dir)
    train_sentences, held_out_sentences = split_train_held_out(corpus, held_out_fraction)
    tokenizer = WordTokenizer.from_texts(
        train_sentences, max_vocabulary_size=max_vocabulary_size, min_frequency=min_frequency
    )
    return DemoData(
        corpus=corpus,
        tokenizer=tokenizer,
        train_sentences=train_sentences,
        held_out_sentences=held_out_sentences,
        train_sequences=make_sequences(train_sentences, tokenizer, sequence_length),
        held_out_sequences=make_sequences(held_out_sentences, tokenizer, sequence_length),
    )


# ---------------------------------------------------------------------------
# Unigram-frequency baseline.


def most_frequent_token_id(token_ids, excluded_ids=RESERVED_IDS):
    """The commonest id in `token_ids` (any shape) outside `excluded_ids`; ties go to the lower."""
    counts = np.bincount(np.asarray(token_ids, dtype=np.int64).reshape(-1))
    counts[[i for i in excluded_ids if i < counts.size]] = 0
    if counts.size == 0 or counts.max() == 0:
        raise ValueError("`token_ids` holds no token outside `excluded_ids` to count.")
    return int(np.argmax(counts))


def unigram_baseline_accuracy(train_token_ids, mask_ids, mask_weights, excluded_ids=RESERVED_IDS):
    """Masked-token accuracy of always guessing the commonest training token.

    The baseline a masked language model must beat: it ignores the context and
    predicts, at every masked position, the most frequent non-reserved token of
    the training data.

    Args:
        train_token_ids: int array of any shape, the training token ids whose
            frequencies define the guess.
        mask_ids: int array `(batch, S)`, the true ids at masked positions (the
            `"mask_ids"` output of `MaskedLMMaskGenerator`).
        mask_weights: float array `(batch, S)`, 1 for real masked positions and 0
            for padding slots.
        excluded_ids: ids never guessed (the reserved ones by default).

    Returns:
        A Python float in `[0, 1]`: the weighted share of masked positions whose
        true id equals the guess.
    """
    guess = most_frequent_token_id(train_token_ids, excluded_ids)
    mask_ids = np.asarray(mask_ids)
    mask_weights = np.asarray(mask_weights, dtype=np.float64)
    if mask_ids.shape != mask_weights.shape:
        raise ValueError(
            "`mask_ids` and `mask_weights` must have the same shape. "
            f"Received: {mask_ids.shape} and {mask_weights.shape}."
        )
    total = mask_weights.sum()
    if total <= 0:
        raise ValueError("`mask_weights` sums to 0: there are no masked positions to score.")
    return float((mask_weights * (mask_ids == guess)).sum() / total)
