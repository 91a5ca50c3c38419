"""keras-embed's own format: a directory that loads memory-mapped in milliseconds.

    name/
      vectors.npy    the (count, dim) matrix, loaded with mmap_mode="r"
      vocab.txt      one word per line, UTF-8; "\\\\", "\\n", "\\r" escaped
      meta.json      format name and version, count, dim, optional subwords
      ngrams.npy     fastText n-gram rows (bucket, dim), when the vectors have them
"""

import json
import os
import re
import shutil
import stat

import numpy as np

from keras_embed.vectors._io import Loaded, create_beside, file_error, sync_directory

FORMAT_NAME = "keras_embed.vectors"
FORMAT_VERSION = 1
MATRIX_FILE = "vectors.npy"
VOCABULARY_FILE = "vocab.txt"
META_FILE = "meta.json"
NGRAMS_FILE = "ngrams.npy"

_ESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}
_ESCAPED = re.compile(r"\\[\\nr]")


def is_native(path):
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, META_FILE))


def _escape(word):
    return word.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(word):
    return _ESCAPED.sub(lambda match: _ESCAPES[match.group(0)], word)


def read(path, limit, dtype, encoding_errors):
    """Read the directory; the matrix (and n-gram rows) come memory-mapped."""
    from keras_embed.vectors.fasttext_bin import FastTextSubwords

    path = os.fspath(path)
    meta_path = os.path.join(path, META_FILE)
    try:
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError) as error:
        raise file_error(meta_path, None, f"cannot read the metadata: {error}") from None
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise file_error(
            meta_path,
            None,
            f"expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, found "
            f"{meta.get('format')!r} version {meta.get('version')!r}",
        )
    matrix = np.load(os.path.join(path, MATRIX_FILE), mmap_mode="r", allow_pickle=False)
    vocabulary_path = os.path.join(path, VOCABULARY_FILE)
    with open(vocabulary_path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8", encoding_errors)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise file_error(vocabulary_path, f"line {line}", f"invalid UTF-8 ({error.reason})") from None
    words = text.split("\n")
    if words and words[-1] == "":
        words.pop()
    if "\\" in text:
        words = [_unescape(word) if "\\" in word else word for word in words]
    if matrix.ndim != 2 or matrix.shape[0] != len(words) or len(words) != meta.get("count"):
        raise file_error(
            path,
            None,
            f"{MATRIX_FILE} has shape {matrix.shape}, {VOCABULARY_FILE} has {len(words)} "
            f"words and {META_FILE} says {meta.get('count')}: they must agree",
        )
    if limit is not None:
        words, matrix = words[:limit], matrix[:limit]
    if np.dtype(dtype) != matrix.dtype:
        matrix = matrix.astype(dtype)
    subwords = None
    if meta.get("subwords"):
        settings = meta["subwords"]
        ngrams = np.load(os.path.join(path, NGRAMS_FILE), mmap_mode="r", allow_pickle=False)
        subwords = FastTextSubwords(ngrams, settings["minn"], settings["maxn"], settings["bucket"])
    vocabulary_where = os.path.join(os.path.basename(path), VOCABULARY_FILE)
    return Loaded(words, matrix, lambda row: f"{vocabulary_where} line {row + 1}", subwords, meta)


def write(vectors, path, subwords=None, durable=False):
    """Write the directory atomically: build it beside `path`, then rename.

    With `durable=True` its files are fsynced before the rename, the folder
    holding it after. The directory and its files get the permissions
    `os.mkdir` and `open(..., "w")` give under the umask; a directory that is
    replaced keeps its permission bits.
    """
    path = os.path.abspath(os.fspath(path))
    staging = create_beside(path, lambda name: os.mkdir(name, 0o777))
    try:
        if os.path.isdir(path):
            os.chmod(staging, stat.S_IMODE(os.stat(path).st_mode))
        _write_file(
            os.path.join(staging, MATRIX_FILE),
            lambda handle: np.save(handle, np.asarray(vectors.matrix)),
            durable,
        )
        words = vectors.words
        if any("\\" in word or "\n" in word or "\r" in word for word in words):
            words = [_escape(word) for word in words]
        vocabulary = ("\n".join(words) + "\n").encode("utf-8") if words else b""
        _write_file(
            os.path.join(staging, VOCABULARY_FILE), lambda handle: handle.write(vocabulary), durable
        )
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "count": len(vectors.words),
            "dim": vectors.dim,
            "dtype": str(np.asarray(vectors.matrix[:0]).dtype),
        }
        if subwords is not None:
            _write_file(
                os.path.join(staging, NGRAMS_FILE),
                lambda handle: np.save(handle, np.asarray(subwords.ngram_matrix)),
                durable,
            )
            meta["subwords"] = {
                "kind": "fasttext",
                "minn": subwords.minn,
                "maxn": subwords.maxn,
                "bucket": subwords.bucket,
            }
        _write_file(
            os.path.join(staging, META_FILE),
            lambda handle: handle.write(json.dumps(meta, indent=1).encode("utf-8")),
            durable,
        )
        if durable:
            sync_directory(staging)
        _replace_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if durable:
        sync_directory(os.path.dirname(path))


def _write_file(path, write, durable):
    """Create `path` as `open(path, "wb")` does and `write(handle)`; fsync if `durable`."""
    with open(path, "wb") as handle:
        write(handle)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())


def _replace_directory(staging, path):
    """Rename `staging` to `path`; an existing `path` is moved aside first."""
    if os.path.lexists(path):
        if not is_native(path):
            raise FileExistsError(
                f"{path!r} exists and is not a keras_embed.vectors directory; refusing "
                "to replace it"
            )
        aside = create_beside(path, lambda name: os.mkdir(name, 0o700))
        os.rmdir(aside)
        os.replace(path, aside)
        os.replace(staging, path)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(staging, path)
