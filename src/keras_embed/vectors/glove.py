"""GloVe text files: `word v1 ... vdim` lines with no header (Pennington et al., 2014).

The dimension is the most common count of numbers per line over the first
lines (the earliest count on a tie), where a line's numbers are its trailing
fields that read as numbers. So tokens that contain spaces (GloVe 840B has
`. . .`) do not change it; such tokens keep their spaces, being everything
before the last `dim` fields. Every line must then hold exactly `dim` numbers:
a line with fewer or more is an error naming it.
"""

import collections

from keras_embed.vectors._io import Loaded, file_error
from keras_embed.vectors._text import (
    NUMBER,
    count_numbers,
    read_text_lines,
    write_text_lines,
)

_SAMPLE_BYTES = 1 << 20
_SAMPLE_LINES = 200


def looks_like_header(line):
    """Whether a stripped line is two numbers, as a word2vec header `count dim` is."""
    fields = line.strip(b" \t\r").split()
    return len(fields) == 2 and all(NUMBER.fullmatch(field) for field in fields)


def sample_lines(head):
    """The non-empty, stripped lines of a file's first bytes (the last one only
    if the sample holds the whole file, as it may be cut short)."""
    lines = [line.rstrip(b" \t\r") for line in head.split(b"\n")[:_SAMPLE_LINES]]
    if len(lines) > 1 and len(head) >= _SAMPLE_BYTES:
        lines = lines[:-1]
    return [line for line in lines if line]


def infer_dim(head, path):
    """The dimension of a GloVe file from its first bytes."""
    lines = sample_lines(head)
    if not lines:
        raise file_error(path, None, "the file is empty; expected lines 'word v1 ... vdim'")
    # A first line that may be a header does not vote; it must agree afterwards.
    header_like = looks_like_header(lines[0]) and head.startswith(lines[0])
    voters = lines[1:] if header_like and len(lines) > 1 else lines
    counts = collections.Counter(count_numbers(line) for line in voters)
    dim = counts.most_common(1)[0][0]
    if dim < 1:
        raise file_error(
            path, "line 1", "expected lines 'word v1 ... vdim' with at least one number"
        )
    first = lines[0]
    if dim != 1 and header_like:
        valid = all(field.isdigit() for field in first.split())
        advice = (
            "load the file with format='word2vec_text'"
            if valid
            else "a header needs two non-negative integers"
        )
        raise file_error(
            path,
            "line 1",
            f"{first.strip()[:80]!r} looks like a word2vec header 'count dim', not a "
            f"GloVe line of a word and {dim} numbers like the lines after it; {advice}",
        )
    return dim


def read(source, limit, dtype, encoding_errors):
    head = source.peek(_SAMPLE_BYTES)
    dim = infer_dim(head, source.path)
    words, matrix, lines = read_text_lines(
        source, dim, None, limit, dtype, encoding_errors, first_line=1, token_spaces=True
    )
    if not words:
        raise file_error(source.path, None, "the file holds no vectors")
    return Loaded(words, matrix, lambda row: f"line {lines[row]}")


def write(vectors, stream, path, precision=None):
    """`word v1 ... vdim` lines, no header; words may hold spaces."""
    write_text_lines(vectors, stream, path, "glove", True, precision)
