"""`load`: a vectors file (any registered format) into `Vectors`."""

import codecs
import os

import numpy as np

from keras_embed._validation import check_integer, describe
from keras_embed.vectors import native
from keras_embed.vectors._io import Source, file_error
from keras_embed.vectors.formats import READERS, canonical_format, sniff_format
from keras_embed.vectors.vectors import DuplicateWordError, Vectors


def load(path, format=None, limit=None, dtype="float32", encoding_errors="strict", progress=None):
    """Load pre-trained word vectors from a file.

    Reads word2vec binary and text, fastText `.vec` (word2vec text) and `.bin`,
    GloVe text and keras-embed's native directory format, telling the format
    from the file's content when `format` is None. Files compressed with
    gzip, bzip2 or xz are read transparently. Numbers are parsed in bulk, a
    block of lines (or binary records) at a time.

    Args:
        path: the file (or native directory).
        format: one of `"word2vec_binary"`, `"word2vec_text"`, `"glove"`,
            `"fasttext_bin"`, `"native"` (aliases: `"word2vec"`, `"vec"`,
            `"fasttext"`), or None to guess.
        limit: read only the first `limit` vectors (the rest of the file is
            not read), or None for all.
        dtype: float dtype of the matrix.
        encoding_errors: how to decode words that are not valid UTF-8:
            `"strict"` (an error naming the place), `"replace"` or `"ignore"`.
        progress: show a progress bar on stderr: True, False, or None for
            files over 8 MB.

    Returns:
        A `Vectors`. For a fastText `.bin` it also has `subwords`, so vectors
        of out-of-vocabulary words can be built.

    Raises:
        VectorsFileError: (a `ValueError`) for a malformed file, naming the
            file, the line or byte offset and what was expected.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.vec")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write("2 3\\nking 0.5 0.1 -0.2\\nqueen 0.45 0.2 -0.1\\n")
    >>> vectors = load(path)
    >>> vectors.format, vectors.words, vectors.matrix.shape
    ('word2vec_text', ['king', 'queen'], (2, 3))
    """
    name = canonical_format(format)
    check_integer("limit", limit, minimum=1, allow_none=True)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"`dtype` must be a float dtype. Received: dtype={describe(dtype)}.") from None
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"`dtype` must be a float dtype. Received: dtype={describe(dtype)}.")
    try:
        codecs.lookup_error(encoding_errors)
    except (LookupError, TypeError):
        raise ValueError(
            "`encoding_errors` must be an error handler such as 'strict', 'replace' or "
            f"'ignore'. Received: encoding_errors={describe(encoding_errors)}."
        ) from None
    path = os.fspath(path)
    if name is None:
        name = sniff_format(path)
    if name == "native":
        loaded = native.read(path, limit, dtype, encoding_errors)
    else:
        if os.path.isdir(path):
            raise ValueError(f"{path!r} is a directory; format {name!r} needs a file.")
        description = f"loading {os.path.basename(path)}"
        with Source(path, progress=progress, description=description) as source:
            loaded = READERS[name](source, limit, dtype, encoding_errors)
    try:
        vectors = Vectors(loaded.words, loaded.matrix, loaded.subwords)
    except DuplicateWordError as error:
        first, second = (loaded.where(row) for row in error.rows)
        raise file_error(
            path,
            second,
            f"word {error.word!r} appears a second time (first at {first}); words must be unique",
        ) from None
    vectors.format = name
    vectors.details = dict(loaded.details)
    return vectors
