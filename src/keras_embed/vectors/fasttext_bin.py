"""fastText `.bin` models: word vectors and out-of-vocabulary vectors from subwords.

Layout (fastText 0.2+, file format version 12; Bojanowski et al., 2017,
"Enriching Word Vectors with Subword Information"): int32 magic 793712314,
int32 version, the training arguments (12 int32 and one float64), the
dictionary (int32 size, nwords, nlabels; int64 ntokens, pruneidx_size; per
entry a NUL-terminated word, int64 count and int8 type; pruneidx pairs), a
bool for quantisation, then the input matrix (int64 rows, cols; float32
data) of `nwords + bucket` rows. Only the input matrix is needed.

A word's vector is the mean of its own row and the rows of its character
n-grams of `<word>`; an out-of-vocabulary word uses its n-grams only. N-gram
rows are `nwords + fnv1a(ngram) % bucket`, where fastText's FNV-1a XORs each
byte *sign-extended* (`uint32_t(int8_t(c))`), so bytes >= 0x80 hash as
0xFFFFFFxx. Sums run in float32 in fastText's order and the mean is taken by
multiplying with `float32(1 / count)`, which reproduces fastText bit for bit.
"""

import re
import struct

import numpy as np

from keras_embed.ops._fasttext_ngrams import END_OF_SENTENCE
from keras_embed.ops._fasttext_ngrams import fnv1a_fasttext  # noqa: F401 (public here too)
from keras_embed.ops._fasttext_ngrams import ngram_rows
from keras_embed.vectors._io import Loaded, decode_words, file_error

MAGIC = 793712314
VERSION = 12
_ARGS = struct.Struct("<12id")
_ARG_NAMES = (
    "dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model",
    "bucket", "minn", "maxn", "lr_update_rate", "t",
)  # fmt: skip
_DICTIONARY_HEADER = struct.Struct("<iiiqq")
_MODEL_NAMES = {1: "cbow", 2: "skipgram", 3: "supervised"}
_ENTRY = re.compile(rb"([^\x00]*)\x00.{9}", re.DOTALL)  # word, NUL, int64 count, int8 type.
_WORDS_PER_BLOCK = 1 << 13  # Words hashed and summed together (bounds scratch memory).


class FastTextSubwords:
    """Character n-gram rows of a fastText model, for vectors of any word.

    Args:
        ngram_matrix: `(bucket, dim)` n-gram rows (the input matrix without
            its first `nwords` rows; may be memory-mapped).
        minn, maxn: n-gram lengths in characters.
        bucket: number of hash buckets.
        word_matrix: optional `(nwords, dim)` word rows of the model (the
            input matrix's first `nwords` rows), kept so that
            `SubwordEmbedding.from_fasttext` can rebuild the model's table.
    """

    def __init__(self, ngram_matrix, minn, maxn, bucket, word_matrix=None):
        self.ngram_matrix = ngram_matrix
        self.word_matrix = word_matrix
        self.minn, self.maxn, self.bucket = int(minn), int(maxn), int(bucket)

    @property
    def dim(self):
        return self.ngram_matrix.shape[1]

    def ngram_buckets(self, word):
        """fastText's n-gram bucket ids for `word`, in fastText's order."""
        _, rows, _ = self._rows([word], np.full(1, -1, dtype=np.int64))
        return rows

    def vectors(self, words, own_rows=None, own_matrix=None):
        """`(len(words), dim)` float32 vectors exactly as fastText computes them.

        Args:
            words: list of str.
            own_rows: optional int array, the row of each word in
                `own_matrix` (its word row in the model) or -1 when it has none.
            own_matrix: the `(nwords, dim)` word rows of the model.

        Returns:
            The mean of each word's own row (if any) and its n-gram rows,
            summed in fastText's order; zeros for a word with no rows at all.
        """
        if own_rows is None:
            own_rows = np.full(len(words), -1, dtype=np.int64)
        output = np.zeros((len(words), self.dim), dtype=np.float32)
        for start in range(0, len(words), _WORDS_PER_BLOCK):
            stop = start + _WORDS_PER_BLOCK
            is_own, rows, counts = self._rows(words[start:stop], own_rows[start:stop])
            begins = np.cumsum(counts) - counts  # (words,)
            sums = np.zeros((counts.size, self.dim), dtype=np.float32)  # (words, dim)
            # One row per word per step: float32 additions in fastText's order
            # (numpy's own reductions may sum pairwise, which rounds differently).
            for step in range(int(counts.max(initial=0))):
                active = np.flatnonzero(counts > step)
                entries = begins[active] + step
                own = is_own[entries]
                addend = np.empty((active.size, self.dim), dtype=np.float32)  # (active, dim)
                if own.any():
                    addend[own] = own_matrix[rows[entries[own]]]
                addend[~own] = self.ngram_matrix[rows[entries[~own]]]
                sums[active] += addend
            present = np.flatnonzero(counts)
            scale = (1.0 / counts[present]).astype(np.float32)  # fastText: float32(1.0 / n)
            output[start + present] = sums[present] * scale[:, None]
        return output

    def _rows(self, words, own_rows):
        """Rows of each word in fastText's order: own row first, then n-grams.

        Returns `(is_own, rows, counts)`, grouped by word in input order.
        """
        with_ngrams = [index for index, word in enumerate(words) if word != END_OF_SENTENCE]
        ngram_rows, ngram_owners, ngram_keys = self._ngram_rows(
            [words[index] for index in with_ngrams]
        )
        ngram_owners = np.asarray(with_ngrams, dtype=np.int64)[ngram_owners]
        known = np.flatnonzero(own_rows >= 0)
        owners = np.concatenate([known, ngram_owners])
        keys = np.concatenate([np.full(known.size, -1, dtype=np.int64), ngram_keys])
        rows = np.concatenate([own_rows[known], ngram_rows])
        is_own = np.concatenate([np.ones(known.size, bool), np.zeros(ngram_rows.size, bool)])
        order = np.lexsort((keys, owners))
        return is_own[order], rows[order], np.bincount(owners, minlength=len(words))

    def _ngram_rows(self, words):
        """n-gram buckets of `<word>` for each word, with owners and an order key."""
        return ngram_rows(words, self.minn, self.maxn, self.bucket)


def read(source, limit, dtype, encoding_errors):
    """Read a fastText `.bin`: returns words, word vectors and the subwords."""
    path = source.path
    magic, version = struct.unpack("<ii", source.read_exact(8, "the fastText header"))
    if magic != MAGIC:
        raise file_error(
            path, "byte offset 0", f"expected the fastText magic number {MAGIC}, found {magic}"
        )
    if version != VERSION:
        raise file_error(
            path,
            "byte offset 4",
            f"fastText file format version {version} is not supported; expected "
            f"{VERSION} (models saved by fastText 0.2 or later)",
        )
    args = dict(zip(_ARG_NAMES, _ARGS.unpack(source.read_exact(_ARGS.size, "the arguments"))))
    if args["model"] == 3:
        raise file_error(
            path,
            "byte offset 36",
            "this is a supervised (classification) fastText model; only unsupervised "
            "word-vector models (cbow, skipgram) are supported",
        )
    dim, bucket = args["dim"], args["bucket"]
    offset = source.offset
    size, nwords, nlabels, _, prune_size = _DICTIONARY_HEADER.unpack(
        source.read_exact(_DICTIONARY_HEADER.size, "the dictionary header")
    )
    remaining = source.remaining_bound()
    if (
        min(size, nwords, nlabels, dim, bucket) < 0
        or dim == 0
        or size != nwords + nlabels
        or (remaining is not None and size * 10 > remaining)
    ):
        raise file_error(
            path,
            f"byte offset {offset}",
            f"implausible dictionary header (size={size}, nwords={nwords}, "
            f"nlabels={nlabels}, dim={dim}, bucket={bucket}) for a file of "
            f"{source.size} bytes: corrupt or not a fastText model",
        )
    if nlabels:
        raise file_error(
            path,
            f"byte offset {offset}",
            f"the dictionary holds {nlabels} labels: a supervised model, which is not "
            "supported",
        )
    raw_words = _read_entries(source, size)
    if prune_size > 0:
        raise file_error(
            path,
            f"byte offset {offset}",
            "this model was pruned by quantisation (a .ftz file); quantised models are "
            "not supported: use the full .bin or its .vec",
        )
    quantised = source.read_exact(1, "the quantisation flag")
    if quantised != b"\x00":
        raise file_error(
            path,
            f"byte offset {source.offset - 1}",
            "this is a quantised fastText model (.ftz); quantised models are not "
            "supported: use the full .bin or its .vec",
        )
    offset = source.offset
    rows, cols = struct.unpack("<qq", source.read_exact(16, "the input matrix shape"))
    if rows != nwords + bucket or cols != dim:
        raise file_error(
            path,
            f"byte offset {offset}",
            f"the input matrix is {rows} x {cols}; expected (nwords + bucket) x dim = "
            f"{nwords + bucket} x {dim}",
        )
    input_matrix = _read_matrix(source, rows, cols)
    words = decode_words(
        raw_words, path, encoding_errors, lambda i: f"dictionary entry {i + 1}"
    )
    # pruneidx_size 0 means every n-gram was pruned away (fastText's pushHash).
    maxn = 0 if prune_size == 0 else args["maxn"]
    subwords = FastTextSubwords(
        input_matrix[nwords:], args["minn"], maxn, bucket, word_matrix=input_matrix[:nwords]
    )
    kept = words if limit is None else words[:limit]
    matrix = subwords.vectors(
        kept, own_rows=np.arange(len(kept)), own_matrix=input_matrix[:nwords]
    ).astype(dtype, copy=False)
    details = {
        "model": _MODEL_NAMES.get(args["model"], str(args["model"])),
        "minn": args["minn"],
        "maxn": args["maxn"],
        "bucket": bucket,
    }
    return Loaded(kept, matrix, lambda row: f"dictionary entry {row + 1}", subwords, details)


def _read_entries(source, size):
    """The raw words of `size` dictionary entries."""
    words = []
    pending = b""
    while len(words) < size:
        data = source.read(1 << 20)
        if not data:
            raise file_error(
                source.path,
                f"byte offset {source.offset}",
                f"the dictionary promises {size} words but the file ends after {len(words)}",
            )
        pending += data
        found = _ENTRY.findall(pending)[: size - len(words)]
        consumed = sum(map(len, found)) + 10 * len(found)
        words.extend(found)
        pending = pending[consumed:]
    # Give back what belongs to the sections after the dictionary.
    source.push_back(pending)
    return words


def _read_matrix(source, rows, cols):
    """The float32 input matrix: memory-mapped when the file is uncompressed."""
    nbytes = rows * cols * 4
    remaining = source.remaining_bound()
    if remaining is not None and nbytes > remaining:
        raise file_error(
            source.path,
            f"byte offset {source.offset}",
            f"the input matrix needs {nbytes} bytes but only {remaining} remain (truncated?)",
        )
    if not source.compressed:
        matrix = np.memmap(source.path, dtype="<f4", mode="r", offset=source.offset, shape=(rows, cols))
        source.skip(nbytes)
        return matrix
    matrix = np.empty((rows, cols), dtype="<f4")
    view = memoryview(matrix).cast("B")
    filled = 0
    while filled < nbytes:
        count = source.readinto(view[filled : filled + (64 << 20)])
        if not count:
            raise file_error(
                source.path,
                f"byte offset {source.offset}",
                f"the input matrix needs {nbytes} bytes but the file ends after {filled}",
            )
        filled += count
    return matrix
