"""The vector file formats, registered by name: readers, writers, sniffing and `save`."""

import os
import struct

from keras_embed._validation import check_bool
from keras_embed._validation import describe
from keras_embed.vectors import fasttext_bin, glove, native, word2vec
from keras_embed.vectors._io import Source, atomic_output, file_error
from keras_embed.vectors._text import check_precision, count_numbers

READERS = {
    "word2vec_binary": word2vec.read_binary,
    "word2vec_text": word2vec.read_text,
    "glove": glove.read,
    "fasttext_bin": fasttext_bin.read,
}
WRITERS = {
    "word2vec_binary": word2vec.write_binary,
    "word2vec_text": word2vec.write_text,
    "glove": glove.write,
}
TEXT_FORMATS = ("word2vec_text", "glove")
FORMATS = tuple(READERS) + ("native",)
ALIASES = {
    "word2vec": "word2vec_binary",
    "word2vec_bin": "word2vec_binary",
    "text": "word2vec_text",
    "vec": "word2vec_text",
    "fasttext_vec": "word2vec_text",
    "fasttext": "fasttext_bin",
    "bin": "fasttext_bin",
}
_SAVE_SUFFIXES = {".bin": "word2vec_binary", ".vec": "word2vec_text", ".w2v": "word2vec_binary"}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")
_NUMBER_TEXT = frozenset(b"0123456789+-.eEnaifNAIF \t\r\n")
_SNIFF_BYTES = 1 << 16


def canonical_format(format, for_saving=False):
    if format is None:
        return None
    name = ALIASES.get(format, format) if isinstance(format, str) else format
    known = (tuple(WRITERS) + ("native",)) if for_saving else FORMATS
    if name not in known:
        raise ValueError(
            f"`format` must be one of {known} (or an alias: {sorted(ALIASES)}). "
            f"Received: format={describe(format)}."
        )
    return name


def sniff_format(path):
    """The format of the file at `path`, told from its (decompressed) content."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if native.is_native(path):
            return "native"
        raise ValueError(
            f"{path!r} is a directory but not a keras_embed.vectors directory "
            f"(no {native.META_FILE})."
        )
    with Source(path, progress=False) as source:
        head = source.peek(_SNIFF_BYTES)
    if not head.strip():
        raise file_error(path, None, "the file is empty; expected word vectors")
    if len(head) >= 8 and struct.unpack("<i", head[:4])[0] == fasttext_bin.MAGIC:
        return "fasttext_bin"
    newline = head.find(b"\n")
    first_line = head[: newline if newline >= 0 else len(head)].rstrip(b"\r")
    header = word2vec.HEADER.match(first_line)
    if header is None:
        if glove.looks_like_header(first_line):
            body = head[newline + 1 :] if newline >= 0 else b""
            if len(head) >= _SNIFF_BYTES:  # The sample may cut its last line short.
                body = body[: body.rfind(b"\n") + 1]
            _check_one_dimensional(path, first_line, body)
        return "glove"
    dim = int(header.group(2))
    body = head[newline + 1 :] if newline >= 0 else b""
    # A complete text line of another width is a text file whose header is wrong:
    # the text reader says how, where the binary reader could only say "truncated".
    text = _is_text_vector_line(body, dim) or _is_text_vector_line(body, None)
    return "word2vec_text" if text else "word2vec_binary"


def _check_one_dimensional(path, first_line, body):
    """A first line of two numbers that is no valid header must be a GloVe line
    of dimension 1, like the lines after it; otherwise it is a broken header."""
    following = glove.sample_lines(body)
    if following and all(count_numbers(line) == 1 for line in following):
        return
    raise file_error(
        path,
        "line 1",
        f"expected a header 'count dim' of two non-negative integers, found "
        f"{first_line[:80]!r} (the lines after it are not 1-dimensional GloVe lines, "
        "so it is not a vector either)",
    )


def _is_text_vector_line(body, dim):
    """Whether the first line of `body` reads as `word v1 ... vdim` in text.

    A binary record's float bytes almost never split on spaces into `dim`
    fields made of digits, signs, dots and exponents only. With `dim=None`:
    whether it is a complete text line of `word` and any number of values.
    """
    end = body.find(b"\n")
    if dim is None and end < 0:
        return False
    line = (body[:end] if end >= 0 else body).rstrip(b" \t\r")
    fields = line.split(b" ")
    if dim is None:
        dim = len(fields) - 1
    if dim < 1 or (end >= 0 and len(fields) < dim + 1):
        return False
    numbers = b" ".join(fields[1:][-dim:])
    return bool(numbers) and set(numbers) <= _NUMBER_TEXT and any(48 <= c <= 57 for c in numbers)


def save(vectors, path, format=None, precision=None, durable=False):
    """Write `vectors` to `path` in a format gensim and fastText read back.

    The file is written under a temporary name beside `path` (created as
    `open` would create it, so it gets the same permissions: `0o666` less the
    umask for a new file; a file that is replaced keeps its permission bits)
    and renamed into place at the end: an exception, a crash or `kill -9`
    during the write never leaves a half-written file at `path` (it holds the
    old file, or nothing), and a failed save removes its temporary file.
    A path that is a symbolic link is written through, as `open` does.

    Durability is a separate promise, and `durable=True` makes it: the file
    is fsynced before the rename and its folder after, so a power loss or
    kernel crash right after `save` returns cannot lose it. It waits for the
    disk, which costs about as much again as the write on a busy disk; by
    default, as gensim, numpy and keras do, the kernel writes the pages back
    in its own time (ext4, mounted with its defaults, writes the data of a
    file that replaces another by rename before it commits the rename, so
    there the old or the new file survives a power loss even so).

    Text formats write each value as float32 with `"%.9g"`: 9 significant
    digits, the fewest that read back to the same float32 for every value (the
    shortest round-trip form saves ~10% of the bytes but costs ~4x the time to
    produce). `precision` writes fewer digits to save space, as gensim users
    sometimes do; the values then read back rounded.

    Args:
        vectors: a `Vectors`.
        path: destination. A `.gz`, `.bz2` or `.xz` suffix compresses.
        format: `"word2vec_binary"`, `"word2vec_text"`, `"glove"` or
            `"native"` (a directory whose matrix loads memory-mapped). None
            picks from the suffix: `.bin` word2vec binary, `.vec` word2vec
            text, no suffix native.
        precision: significant digits of each value in a text format (1 to
            9), or None for 9 (exact).
        durable: bool. Whether to fsync the file and its folder before
            returning. Defaults to `False`.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_embed.vectors import Vectors, load
    >>> folder = tempfile.mkdtemp()
    >>> vectors = Vectors(["a", "b"], np.eye(2, dtype="float32") / 3)
    >>> save(vectors, os.path.join(folder, "vectors.bin"))
    >>> save(vectors, os.path.join(folder, "native"))  # Loads memory-mapped.
    >>> load(os.path.join(folder, "native")).words
    ['a', 'b']
    >>> save(vectors, os.path.join(folder, "short.vec"), precision=3)
    >>> print(open(os.path.join(folder, "short.vec")).read(), end="")
    2 2
    a 0.333 0
    b 0 0.333
    """
    path = os.fspath(path)
    name = canonical_format(format, for_saving=True)
    precision = check_precision(precision)
    check_bool("durable", durable)
    if name is None:
        stem = path
        for suffix in _COMPRESSION_SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
        extension = os.path.splitext(stem)[1].lower()
        name = _SAVE_SUFFIXES.get(extension, "native" if not extension else None)
        if name is None:
            raise ValueError(
                f"Cannot tell the format from the name {path!r}; pass `format=` one of "
                f"{tuple(WRITERS) + ('native',)}."
            )
    if precision is not None and name not in TEXT_FORMATS:
        raise ValueError(
            f"`precision` applies to the text formats {TEXT_FORMATS}; {name!r} stores "
            f"float32 as they are. Received: precision={precision} with format={name!r}."
        )
    if name != "native" and vectors.dim == 0:
        raise ValueError(f"Cannot save vectors of dimension 0 to {path!r} as {name!r}.")
    if name == "native":
        native.write(vectors, path, subwords=vectors.subwords, durable=durable)
        return
    options = {"precision": precision} if name in TEXT_FORMATS else {}
    with atomic_output(path, durable=durable) as stream:
        WRITERS[name](vectors, stream, path, **options)
