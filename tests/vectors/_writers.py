"""Independent writers and readers for the tests: byte layouts written out by hand."""

import struct

import numpy as np

FASTTEXT_MAGIC = 793712314


def word2vec_binary_bytes(words, matrix, newline=True, header=None):
    """word2vec.c's layout: `count dim\\n`, then `word` b" " float32[dim] [b"\\n"]."""
    count, dim = matrix.shape
    parts = [(header if header is not None else f"{count} {dim}\n").encode("ascii")]
    for word, row in zip(words, np.asarray(matrix, "<f4")):
        parts += [word.encode("utf-8"), b" ", row.tobytes(), b"\n" if newline else b""]
    return b"".join(parts)


def text_lines(words, matrix, fmt="{:.9g}"):
    return "".join(
        word + " " + " ".join(fmt.format(float(value)) for value in row) + "\n"
        for word, row in zip(words, matrix)
    )


def fnv1a_reference(data):
    """FNV-1a over bytes as fastText does it: each byte sign-extended to 32 bits."""
    value = 0x811C9DC5
    for byte in data:
        signed = byte - 256 if byte >= 128 else byte
        value = ((value ^ (signed & 0xFFFFFFFF)) * 0x01000193) % 2**32
    return value


def subword_ids_reference(word, nwords, minn, maxn, bucket):
    """fastText's `computeSubwords` on `<word>`, one character (UTF-8 sequence) at a time."""
    data = ("<" + word + ">").encode("utf-8")
    ids = []
    for i in range(len(data)):
        if data[i] & 0xC0 == 0x80:
            continue
        j, n, ngram = i, 1, b""
        while j < len(data) and n <= maxn:
            ngram += data[j : j + 1]
            j += 1
            while j < len(data) and data[j] & 0xC0 == 0x80:
                ngram += data[j : j + 1]
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == len(data))):
                ids.append(nwords + fnv1a_reference(ngram) % bucket)
            n += 1
    return ids


def fasttext_vector_reference(input_matrix, ids):
    """fastText's getWordVector: float32 sum in order, then times float32(1 / n)."""
    total = np.zeros(input_matrix.shape[1], np.float32)
    for row in ids:
        total = (total + input_matrix[row]).astype(np.float32)
    return total * np.float32(1.0 / len(ids)) if ids else total


def fasttext_bin_bytes(
    words,
    input_matrix,
    minn=3,
    maxn=6,
    bucket=None,
    model=2,
    nlabels=0,
    version=12,
    magic=FASTTEXT_MAGIC,
    prune_size=-1,
    quantised=False,
):
    """A fastText model file (version 12) for `words` and the full input matrix.

    Layout (fastText's `FastText::saveModel`): magic, version; Args (12 int32
    then float64 `t`); Dictionary (int32 size, nwords, nlabels; int64
    ntokens, pruneidx_size; per entry word NUL int64 count int8 type);
    bool quant; input matrix (int64 rows, cols, float32 data); bool qout;
    output matrix (int64 rows, cols, float32 data).
    """
    input_matrix = np.asarray(input_matrix, "<f4")
    dim = input_matrix.shape[1]
    bucket = input_matrix.shape[0] - len(words) if bucket is None else bucket
    args = struct.pack(
        "<12id", dim, 5, 1, 1, 5, 1, 1, model, bucket, minn, maxn, 100, 1e-4
    )
    entries = b"".join(
        word.encode("utf-8") + b"\x00" + struct.pack("<qb", 1, 0) for word in words
    )
    dictionary = struct.pack("<iiiqq", len(words), len(words) - nlabels, nlabels, len(words), prune_size)
    parts = [
        struct.pack("<ii", magic, version),
        args,
        dictionary,
        entries,
        b"\x01" if quantised else b"\x00",
        struct.pack("<qq", *input_matrix.shape),
        input_matrix.tobytes(),
        b"\x00",
        struct.pack("<qq", len(words), dim),
        np.zeros((len(words), dim), "<f4").tobytes(),
    ]
    return b"".join(parts)
