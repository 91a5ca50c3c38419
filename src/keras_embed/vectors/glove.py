"""GloVe text files: `word v1 ... vdim` lines with no header (Pennington et al., 2014).

The dimension is inferred as the most common number of fields minus one over
the first lines, so a few tokens that contain spaces (GloVe 840B has them)
do not change it; such tokens keep their spaces, being everything before the
last `dim` fields.
"""

import collections

from keras_embed.vectors._io import Loaded, file_error
from keras_embed.vectors._text import field_count, read_text_lines, write_text_lines

_SAMPLE_BYTES = 1 << 20
_SAMPLE_LINES = 200


def infer_dim(head, path):
    """The dimension of a GloVe file from its first bytes."""
    lines = [line.rstrip(b" \t\r") for line in head.split(b"\n")[:_SAMPLE_LINES]]
    if len(lines) > 1 and len(head) >= _SAMPLE_BYTES:
        lines = lines[:-1]  # The sample may cut the last line short.
    counts = collections.Counter(field_count(line) for line in lines if line)
    if not counts:
        raise file_error(path, None, "the file is empty; expected lines 'word v1 ... vdim'")
    fields = counts.most_common(1)[0][0]
    if fields < 2:
        raise file_error(
            path, "line 1", "expected lines 'word v1 ... vdim' with at least one number"
        )
    return fields - 1


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
