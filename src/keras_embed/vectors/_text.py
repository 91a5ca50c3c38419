"""Reading and writing `word v1 v2 ... vdim` text lines (private).

Shared by the word2vec text, fastText `.vec` and GloVe formats. Lines split
on the ASCII space only (a token may hold other Unicode spaces), and the token
is everything before the last `dim` fields, so GloVe 840B tokens that contain
spaces load intact. Numbers are parsed a block at a time by numpy's text parser.
"""

import re
import warnings

import numpy as np

from keras_embed._validation import check_integer
from keras_embed.vectors._float_text import MAX_PRECISION, format_lines
from keras_embed.vectors._io import GrowingMatrix, decode_words, file_error, iter_line_blocks

BLOCK_BYTES = 1 << 18  # Small blocks keep the parser's scratch in cache and the peak low.
_TRAILING = b" \t\r"
WRITE_BLOCK_VALUES = 1 << 16  # Values formatted per block: the scratch stays in cache.


class DecimalSyntaxError(ValueError):
    """A token is not a number; `token_index` and `token` say which."""

    def __init__(self, token_index, token):
        super().__init__(f"{token!r} is not a number")
        self.token_index = token_index
        self.token = token


def _parse(data, dtype):
    """`np.fromstring(data, sep=" ")`, or None where a token does not parse."""
    try:
        with warnings.catch_warnings():
            # numpy before 2.3 warns and stops at a bad token; later versions raise.
            warnings.simplefilter("error", DeprecationWarning)
            return np.fromstring(data, dtype=dtype, sep=" ")
    except (ValueError, DeprecationWarning):
        return None


def parse_decimals(data, dtype):
    """The numbers of `data`, separated by ASCII whitespace, as a 1-D `dtype` array.

    numpy's parser rounds each token to float64 and then to `dtype`, exactly
    as `float(token)` followed by a cast does. A token that is not a number
    raises `DecimalSyntaxError` naming it.
    """
    values = _parse(data, dtype)
    if values is not None:
        return values
    for index, token in enumerate(data.split()):
        value = _parse(token, dtype)
        if value is None or value.size != 1:
            raise DecimalSyntaxError(index, token.decode("utf-8", "replace"))
    raise AssertionError("a buffer failed to parse but every token parses")  # pragma: no cover


# One number as text: what the readers parse (decimal or scientific, nan, inf).
NUMBER = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))"
)


def count_numbers(line):
    """How many fields at the end of a stripped line are numbers (the first
    field, the word, never counts)."""
    fields = line.split(b" ")
    count = 0
    for field in reversed(fields[1:]):
        if NUMBER.fullmatch(field) is None:
            break
        count += 1
    return count


def split_line(line, dim, token_spaces=True):
    """`(word, numbers)` of one line, or `(None, found_numbers)` if it has the
    wrong number of fields (too few; or too many when not `token_spaces`).

    With `token_spaces` the word is everything before the last `dim` fields;
    if the field just before those is a number too, the line holds more than
    `dim` numbers, which is an error rather than a word ending in a number.
    """
    spaces = line.count(b" ")
    if spaces == dim:
        word, _, numbers = line.partition(b" ")
        return word, numbers
    if spaces < dim or not token_spaces:
        return None, spaces
    cut = -1
    for _ in range(spaces - dim + 1):  # The token holds the first spaces.
        cut = line.index(b" ", cut + 1)
    word = line[:cut]
    if NUMBER.fullmatch(word[word.rfind(b" ") + 1 :]) is not None:
        return None, count_numbers(line)
    return word, line[cut + 1 :]


def _locate_bad_line(path, lines, first_line, dim, dtype, token_spaces):
    """Raise the error for the first line of a block that does not parse."""
    for number, line in enumerate(lines, start=first_line):
        word, numbers = split_line(line.rstrip(_TRAILING), dim, token_spaces)
        try:
            values = parse_decimals(numbers, dtype) if word is not None else None
        except DecimalSyntaxError as error:
            raise file_error(
                path, f"line {number}", f"{error.token!r} is not a number"
            ) from None
        if values is None or values.size != dim:
            found = numbers if word is None else values.size
            raise file_error(
                path,
                f"line {number}",
                f"expected a word and {dim} numbers separated by single spaces, "
                f"found {found} numbers",
            )
    raise AssertionError("block failed to parse but every line parses")  # pragma: no cover


def read_text_lines(source, dim, count, limit, dtype, encoding_errors, first_line, token_spaces):
    """Read `word v1 ... vdim` lines from `source` (after any header).

    Args:
        source: an open `Source`, positioned at the first vector line.
        dim: number of values per line.
        count: vectors the header promises, or None (GloVe: read to the end).
        limit: stop after this many vectors, or None.
        dtype: dtype of the returned matrix.
        encoding_errors: how to handle invalid UTF-8 in words.
        first_line: 1-based line number of the first vector line.
        token_spaces: whether words may contain ASCII spaces (GloVe); if not,
            a line with too many fields is an error.

    Returns:
        `(words, matrix, lines)`: decoded words, the `(rows, dim)` matrix and
        the line number of each row (for duplicate-word messages), a `range`:
        vector lines follow one another, as blank lines may only end a file.
    """
    path = source.path
    wanted = count if limit is None else (limit if count is None else min(count, limit))
    remaining = source.remaining_bound()
    if wanted is not None:
        capacity = wanted
        if remaining is not None:  # Each line holds at least "w" + dim * " 0" + "\n".
            capacity = min(capacity, remaining // (2 * dim + 2) + 1)
        elif source.compressed:
            capacity = min(capacity, 1 << 16)
    else:
        capacity = 1 << 12 if remaining is None else remaining // (2 * dim + 2) + 1
        capacity = min(capacity, 1 << 16)
    matrix = GrowingMatrix(capacity, dim, dtype)
    words = []
    blank_line = None  # Blank lines are allowed only at the end of the file.
    rows = 0
    for block_line, block in iter_line_blocks(source, BLOCK_BYTES, first_line):
        lines = block.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        stripped = [line.rstrip(_TRAILING) for line in lines]
        numbers_of_block, words_of_block, numbers_of_lines = [], [], []
        for offset, line in enumerate(stripped):
            if not line:
                if blank_line is None:
                    blank_line = block_line + offset
                continue
            if blank_line is not None:
                raise file_error(
                    path, f"line {blank_line}", "blank line before more vectors"
                )
            if wanted is not None and rows + len(words_of_block) >= wanted:
                if count is not None and (limit is None or limit > count):
                    raise file_error(
                        path,
                        f"line {block_line + offset}",
                        f"the header promises {count} vectors but more lines follow",
                    )
                break
            word, numbers = split_line(line, dim, token_spaces)
            if word is None:
                _locate_bad_line(path, [line], block_line + offset, dim, dtype, token_spaces)
            if not word:
                raise file_error(path, f"line {block_line + offset}", "the word is empty")
            words_of_block.append(word)
            numbers_of_block.append(numbers)
            numbers_of_lines.append(block_line + offset)
        if words_of_block:
            try:
                values = parse_decimals(b" ".join(numbers_of_block), dtype)
            except DecimalSyntaxError:
                values = None
            if values is None or values.size != len(words_of_block) * dim:
                _locate_bad_line(
                    path,
                    stripped[: numbers_of_lines[-1] - block_line + 1],
                    block_line,
                    dim,
                    dtype,
                    token_spaces,
                )
            matrix.reserve(len(words_of_block))[...] = values.reshape(-1, dim)
            first_row = rows
            words.extend(
                decode_words(
                    words_of_block,
                    path,
                    encoding_errors,
                    lambda i, lines=numbers_of_lines: f"line {lines[i]}",
                )
            )
            rows = first_row + len(words_of_block)
        if wanted is not None and rows >= wanted:
            break
    if count is not None and rows < count and (limit is None or rows < limit):
        raise file_error(
            path,
            f"line {first_line + rows}",
            f"the header promises {count} vectors but the file ends after {rows} "
            "(truncated, or a wrong count in the header?)",
        )
    if count is not None and limit is None:
        _reject_extra_lines(source, path, count, first_line + rows)
    return words, matrix.finish(), range(first_line, first_line + rows)


def _reject_extra_lines(source, path, count, line):
    """After the promised vectors only blank lines may follow."""
    while True:
        data = source.read(BLOCK_BYTES)
        if not data:
            return
        if data.strip():
            raise file_error(
                path,
                f"line {line}",
                f"the header promises {count} vectors but more lines follow",
            )


def check_writable_words(words, path, format, spaces_allowed, first_row=0):
    """Refuse words that the format cannot store so that they read back."""
    for row, word in enumerate(words, start=first_row):
        if not word or "\n" in word or "\r" in word or (" " in word and not spaces_allowed):
            raise ValueError(
                f"Cannot save to {path!r} as {format!r}: word {row} is {word!r}, and "
                f"{format!r} cannot store empty words, line breaks"
                + ("" if spaces_allowed else " or spaces")
                + ". Use format='native' instead."
            )


def encode_words(words, path, format, spaces_allowed, first_row=0):
    """The words' UTF-8 bytes, each followed by b" ", and their byte lengths.

    Checks a whole block with a few string searches; a word the format cannot
    store (see `check_writable_words`) raises a `ValueError` naming it.

    Returns:
        `(joined, lengths)`: `bytes` and int64 `(len(words),)`.
    """
    text = " ".join(words) + " "
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    if (
        "\n" in text
        or "\r" in text
        or (not spaces_allowed and text.count(" ") != len(words))
        or (len(words) and not lengths.min())
    ):
        check_writable_words(words, path, format, spaces_allowed, first_row)
    joined = text.encode("utf-8")
    if len(joined) != len(text):  # Not all ASCII: byte lengths differ from str lengths.
        lengths = np.fromiter(
            (len(word.encode("utf-8")) for word in words), dtype=np.int64, count=len(words)
        )
    return joined, lengths


def check_precision(precision):
    """`precision` as an int in 1..9, or None (exact float32, 9 digits)."""
    return check_integer(
        "precision",
        precision,
        minimum=1,
        maximum=MAX_PRECISION,
        allow_none=True,
        expected=f"an integer from 1 to {MAX_PRECISION} (significant digits; None writes "
        "every float32 exactly)",
    )


def write_text_lines(vectors, stream, path, format, spaces_allowed, precision=None):
    """Write `word v1 ... vdim` lines, a block of rows at a time.

    Values are float32 written as `"%.9g"` does, which reads back to the same
    float32 (or with `precision` significant digits); see `_float_text`.
    """
    matrix, words = vectors.matrix, vectors.words
    digits = MAX_PRECISION if precision is None else precision
    block_rows = max(1, WRITE_BLOCK_VALUES // max(vectors.dim, 1))
    for start in range(0, len(words), block_rows):
        block_words = words[start : start + block_rows]
        encoded = encode_words(block_words, path, format, spaces_allowed, first_row=start)
        block = np.asarray(matrix[start : start + block_rows], dtype=np.float32)
        stream.write(format_lines(block_words, encoded, block, digits))
