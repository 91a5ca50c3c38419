"""word2vec binary and text files (also fastText `.vec`, which is word2vec text).

Both start with a header line `count dim`. The binary body repeats
`word` + b" " + `dim` little-endian float32 + an optional b"\\n" (Mikolov et
al., 2013, `word2vec.c`); the text body repeats `word v1 ... vdim` lines.
"""

import re

import numpy as np

from keras_embed.vectors._io import GrowingMatrix, Loaded, decode_words, file_error
from keras_embed.vectors._text import encode_words, read_text_lines, write_text_lines

HEADER = re.compile(rb"^[ \t]*(\d+)[ \t]+(\d+)[ \t\r]*$")
_CHUNK_BYTES = 16 << 20
_MAX_FIRST_ROW_BYTES = 1 << 20  # A longer line is left to the full reader.
_MAX_HEADER_BYTES = 1024
_LINE_END = b"\r\n"
_WRITE_BLOCK_BYTES = 4 << 20  # Records laid out per write.


def read_header(source):
    """`(count, dim, header_bytes)` from the first line of `source`."""
    line = b""
    while not line.endswith(b"\n") and len(line) < _MAX_HEADER_BYTES:
        piece = source.read(1)
        if not piece:
            break
        line += piece
    if not line:
        raise file_error(source.path, None, "the file is empty; expected a header 'count dim'")
    match = HEADER.match(line.rstrip(b"\n"))
    if match is None:
        raise file_error(
            source.path,
            "line 1",
            f"expected a header 'count dim' of two non-negative integers, found "
            f"{line.rstrip(_LINE_END)[:80]!r}",
        )
    count, dim = int(match.group(1)), int(match.group(2))
    if dim == 0:
        raise file_error(source.path, "line 1", "the header gives dimension 0; expected >= 1")
    return count, dim, len(line)


def _check_claimed_size(source, count, dim, min_record_bytes, what):
    """Refuse a header whose counts need more bytes than the file holds."""
    remaining = source.remaining_bound()
    if remaining is not None and count * min_record_bytes > remaining:
        raise file_error(
            source.path,
            "line 1",
            f"the header claims {count} vectors of dimension {dim}, which needs at "
            f"least {count * min_record_bytes} bytes of {what}, but only {remaining} "
            "bytes follow it (truncated file or wrong header?)",
        )


def _check_first_row_width(source, count, dim):
    """Refuse a header whose dimension the first vector line contradicts, saying how."""
    line = b""
    while b"\n" not in line and len(line) < _MAX_FIRST_ROW_BYTES:
        piece = source.read(1 << 16)
        if not piece:
            break
        line += piece
    source.push_back(line)
    fields = line.split(b"\n", 1)[0].split()
    if not fields or count == 0 or len(fields) - 1 == dim:
        return
    numbers = len(fields) - 1
    hint = (
        "; the header looks swapped: word2vec headers are 'count dim'"
        if numbers == count
        else ""
    )
    raise file_error(
        source.path,
        "line 1",
        f"the header 'count dim' gives dimension {dim}, but the first vector (line 2, "
        f"word {fields[0][:40].decode('utf-8', 'replace')!r}) has {numbers} numbers{hint}",
    )


def read_text(source, limit, dtype, encoding_errors):
    """word2vec text / fastText `.vec`: header then `word v1 ... vdim` lines."""
    count, dim, _ = read_header(source)
    _check_first_row_width(source, count, dim)
    _check_claimed_size(source, count, dim, 2 * dim + 2, "text")
    words, matrix, lines = read_text_lines(
        source, dim, count, limit, dtype, encoding_errors, first_line=2, token_spaces=False
    )
    return Loaded(words, matrix, lambda row: f"line {lines[row]}")


def read_binary(source, limit, dtype, encoding_errors):
    """word2vec binary: header then `word` b" " float32[dim] [b"\\n"] records.

    Records are located a chunk at a time by one compiled regular expression
    that lists their words, and all vectors of a chunk are copied with a single
    gather, so Python touches each record only once, to decode its word.
    """
    path = source.path
    count, dim, header_bytes = read_header(source)
    record_floats = dim * 4
    _check_claimed_size(source, count, dim, record_floats + 2, "records")
    wanted = count if limit is None else min(count, limit)
    capacity = wanted if not source.compressed else min(wanted, 1 << 16)
    matrix = GrowingMatrix(capacity, dim, dtype)
    record_word = re.compile(rb"([^ ]+) .{%d}" % record_floats, re.DOTALL)
    item = np.dtype((np.void, record_floats))
    words, offsets = [], []
    pending = b""
    base = header_bytes  # File offset of pending[0].
    rows = 0
    at_end = False
    while rows < wanted:
        data = source.read(max(_CHUNK_BYTES, record_floats + 64))
        at_end = not data
        pending = pending + data if pending else data
        chunk_words = record_word.findall(pending)[: wanted - rows]
        if not chunk_words:
            if at_end:
                _raise_truncated(path, pending, base, rows, count, record_floats)
            continue
        lengths = np.fromiter(map(len, chunk_words), dtype=np.int64, count=len(chunk_words))
        vector_ends = np.cumsum(lengths + 1 + record_floats)
        vector_starts = vector_ends - record_floats
        word_starts = vector_starts - lengths - 1
        raw = np.frombuffer(pending, dtype=np.uint8)
        # findall skips a position only where a record would start with a space
        # (an empty word): the first such skip puts a space at a computed start.
        skipped = raw[word_starts] == 32
        if skipped.any():
            bad = int(np.argmax(skipped))
            raise file_error(
                path,
                f"byte offset {base + int(word_starts[bad])}",
                f"vector {rows + bad + 1}: expected a word, found a space (corrupt file?)",
            )
        if (raw[word_starts] == 10).any():
            chunk_words, word_starts = _strip_record_newlines(chunk_words, word_starts, raw)
            if b"" in chunk_words:
                bad = chunk_words.index(b"")
                raise file_error(
                    path,
                    f"byte offset {base + int(word_starts[bad])}",
                    f"vector {rows + bad + 1}: the word is empty (corrupt file?)",
                )
        # Every vector as one opaque item: the gather is one memcpy per record.
        items = np.ndarray(
            shape=(len(pending) - record_floats + 1,), dtype=item, buffer=pending, strides=(1,)
        )[vector_starts]
        target = matrix.reserve(len(chunk_words))
        if target.dtype == np.dtype("<f4"):
            target.view(item).reshape(-1)[...] = items
        else:
            target[...] = items.view("<f4").reshape(-1, dim)
        word_starts = word_starts + base
        offsets.append(word_starts)
        words.extend(
            decode_words(
                chunk_words,
                path,
                encoding_errors,
                lambda i, starts=word_starts: f"byte offset {int(starts[i])}",
            )
        )
        rows += len(chunk_words)
        consumed = int(vector_ends[-1])
        pending = pending[consumed:]
        base += consumed
    if limit is None or rows < limit:
        _reject_extra_data(source, pending, base, count)
    all_offsets = np.concatenate(offsets) if offsets else np.zeros(0, np.int64)
    return Loaded(words, matrix.finish(), lambda row: f"byte offset {int(all_offsets[row])}")


def _strip_record_newlines(words, starts, raw):
    """Drop the b"\\n" that word2vec.c writes after each vector.

    It lands in front of the next word. Words hold no spaces, so one bulk
    replace on the space-joined words strips one newline from each; the rare
    word with more is stripped on its own. Returns the words and the byte
    offsets where they now start.
    """
    stripped = (b" " + b" ".join(words)).replace(b" \n", b" ")[1:].split(b" ")
    starts = starts + (raw[starts] == 10)
    for index in np.flatnonzero(raw[starts] == 10).tolist():
        word = stripped[index].lstrip(b"\n")
        starts[index] += len(stripped[index]) - len(word)
        stripped[index] = word
    return stripped, starts


def _raise_truncated(path, pending, base, rows, count, record_floats):
    stripped = pending.lstrip(b"\n")
    if not stripped.strip():
        raise file_error(
            path,
            f"byte offset {base + len(pending)}",
            f"the header promises {count} vectors but the file ends after {rows} "
            "(truncated, or a wrong count in the header?)",
        )
    space = stripped.find(b" ")
    if space <= 0:
        raise file_error(
            path,
            f"byte offset {base + len(pending) - len(stripped)}",
            f"vector {rows + 1}: expected a word followed by a space, found "
            f"{stripped[:40]!r} (truncated or corrupt file)",
        )
    found = len(stripped) - space - 1
    raise file_error(
        path,
        f"byte offset {base + len(pending) - len(stripped) + space + 1}",
        f"vector {rows + 1} ({stripped[:space][:40].decode('utf-8', 'replace')!r}): "
        f"expected {record_floats} bytes "
        f"of float32 data, the file ends after {found} (truncated?)",
    )


def _reject_extra_data(source, pending, base, count):
    """After the promised records only whitespace may follow."""
    offset = base
    while True:
        if pending.strip():
            skipped = len(pending) - len(pending.lstrip())
            raise file_error(
                source.path,
                f"byte offset {offset + skipped}",
                f"the header promises {count} vectors but more data follows",
            )
        offset += len(pending)
        pending = source.read(_CHUNK_BYTES)
        if not pending:
            return


def write_binary(vectors, stream, path):
    """Header, then `word` b" " float32 bytes b"\\n" per vector (word2vec.c's layout).

    A block of records is laid out in one preallocated buffer: the words
    (each with its space) land by one scatter of bytes and the vectors by one
    scatter of opaque `4 * dim`-byte items, so Python never loops over the
    records (the words are encoded by one join per block).
    """
    words, dim = vectors.words, vectors.dim
    stream.write(f"{len(words)} {dim}\n".encode("ascii"))
    width = 4 * dim
    item = np.dtype((np.void, max(width, 1)))
    block_rows = max(1, _WRITE_BLOCK_BYTES // (width + 16))
    for start in range(0, len(words), block_rows):
        block_words = words[start : start + block_rows]
        joined, lengths = encode_words(
            block_words, path, "word2vec_binary", spaces_allowed=False, first_row=start
        )
        rows = np.ascontiguousarray(vectors.matrix[start : start + block_rows], dtype="<f4")
        count = len(block_words)
        record_ends = np.cumsum(lengths + (width + 2))
        buffer = np.empty(int(record_ends[-1]), dtype=np.uint8)
        # Byte j of the joined words (word i's bytes and its space) moves past
        # the i vectors and newlines before it.
        shifts = np.repeat(np.arange(count, dtype=np.int64) * (width + 1), lengths + 1)
        buffer[np.arange(len(joined)) + shifts] = np.frombuffer(joined, dtype=np.uint8)
        if width:
            vector_starts = record_ends - (width + 1)
            records = np.ndarray(
                (len(buffer) - width + 1,), dtype=item, buffer=buffer, strides=(1,)
            )
            records[vector_starts] = rows.view(item).reshape(-1)
        buffer[record_ends - 1] = ord("\n")
        stream.write(buffer)


def write_text(vectors, stream, path, precision=None):
    """Header, then `word v1 ... vdim` lines (word2vec text, fastText `.vec`)."""
    stream.write(f"{len(vectors.words)} {vectors.dim}\n".encode("ascii"))
    write_text_lines(vectors, stream, path, "word2vec_text", False, precision)
