"""Numbers as text, a block of rows at a time, for the text vector formats (private).

`format_lines` turns words and a `(rows, dim)` float32 block into the lines
`word v1 ... vdim\\n` with every value written exactly as Python's
`"%.{precision}g" % value` writes it. With 9 significant digits (the default)
every float32 reads back to the same float32, the shortest precision for which
that holds for all of them (IEEE 754-2008, 5.12.2).

Python formats one number in about 180 ns; this module formats a block in
numpy, column by column, in a fraction of that: each value becomes a fixed
row of byte slots (sign, leading "0.000", digits with a possible point after
each, exponent, separator) where unused slots hold NUL, and one boolean
compaction of the whole block drops the NULs. The few values whose decimal
rounding float64 arithmetic cannot settle (a digit pattern within 1e-6 of a
tie, a log10 at a power of ten), and nan and inf, are formatted by Python.
"""

import numpy as np

MAX_PRECISION = 9  # float32 needs at most 9 significant digits; 10**9 fits int64 math.
_ZEROS_BEFORE_DIGITS = 4  # %g writes 0.000ddd for exponents down to -4.
_TIE_MARGIN = 1e-6  # float64 error of the scaled value is below 3e-7 (see _digits).
_POWERS_OF_TEN = np.array([float(f"1e{k}") for k in range(-64, 65)])  # Correctly rounded.


def _digits(values, precision):
    """Decimal exponent, `precision`-digit mantissa and a mask of unsettled values.

    `values` is float64 `(n,)`. For finite non-zero `a = |value|`:
    `e = floor(log10(a))`, `m = rint(a * 10**(precision - 1 - e))`. The
    scaled value is below 1e9 and carries at most ~2.2e-16 relative error
    (one rounding for the power, one for the product), so its fractional part
    decides the rounding unless it lies within `_TIE_MARGIN` of one half.
    """
    magnitudes = np.abs(values)
    finite = np.isfinite(magnitudes)
    regular = finite & (magnitudes > 0)
    all_regular = bool(regular.all())
    safe = magnitudes if all_regular else np.where(regular, magnitudes, 1.0)
    exponents = np.floor(np.log10(safe))
    scaled = safe * _POWERS_OF_TEN[(64 + precision - 1) - exponents.astype(np.intp)]
    mantissas = np.rint(scaled)
    unsettled = np.abs(np.abs(scaled - mantissas) - 0.5) < _TIE_MARGIN
    unsettled |= mantissas < 10.0 ** (precision - 1)
    unsettled |= mantissas >= 10.0**precision
    exponents = exponents.astype(np.int8)  # float32 exponents lie in -45 .. 38.
    if not all_regular:  # Zeros are "0" (mantissa 0, exponent 0); nan and inf go to Python.
        unsettled &= regular
        unsettled |= ~finite
        exponents[~regular] = 0
        mantissas[~regular] = 0
    return exponents, mantissas.astype(np.int64), unsettled


_DIGIT_GROUPS = np.array(
    [[ord(c) for c in f"{i:04d}"] for i in range(10_000)], dtype=np.uint8
).view("<u4").reshape(-1)  # (10000,): the four ASCII digits of 0000 .. 9999 as one word.


def _ascii_digits(mantissas, precision):
    """`(precision, n)` ASCII digits of integers below 10**precision <= 10**9."""
    high, low = np.divmod(mantissas, 10_000)
    top, middle = np.divmod(high, 10_000)
    groups = np.stack([_DIGIT_GROUPS[top], _DIGIT_GROUPS[middle], _DIGIT_GROUPS[low]], axis=1)
    twelve = groups.view(np.uint8).reshape(-1, 12).T  # (12, n)
    return twelve[12 - precision :]


def value_slots(values, precision, separators):
    """`(width, n)` uint8 slots of the `"%.{precision}g"` texts, NUL where unused.

    Each slot kind is one contiguous row built by cheap vector operations; a
    value's text is its column read top to bottom with the NULs dropped. The
    rows are, in output order: sign; "0." and up to three zeros (exponents
    -1 to -4); the digits, each followed by a slot for the point; exponent
    "e", sign and two digits; the separator. Rows no value of this block
    needs are left out, and when under 2% of the values need an exponent,
    Python formats those few instead.

    Args:
        values: float64 `(n,)`.
        precision: significant digits, 1 to `MAX_PRECISION`.
        separators: uint8 `(n,)`, the byte written after each value.
    """
    count = values.shape[0]
    exponents, mantissas, unsettled = _digits(values, precision)
    digits = _ascii_digits(mantissas, precision)
    scientific = (exponents < -4) | (exponents >= precision)
    scientific_count = int(np.count_nonzero(scientific))
    with_exponents = scientific_count * 50 >= count
    if scientific_count and not with_exponents:
        unsettled |= scientific
    below_one = ~scientific & (exponents < 0)
    # Digit index the point follows: the units digit (fixed) or the first (scientific).
    point_after = np.where(scientific, np.int8(0), np.where(below_one, np.int8(-1), exponents))
    # Digits up to the last non-zero one are significant; zero has one, "0".
    kept = np.ones(count, dtype=np.int8)
    for k in range(1, precision):
        np.maximum(kept, np.multiply(digits[k] != ord("0"), k + 1, dtype=np.int8), out=kept)
    # Fixed notation keeps the integer digits even when they are zeros (100).
    np.maximum(kept, point_after + 1, out=kept)
    settled = ~unsettled
    lowest = int(exponents[below_one & settled].min(initial=0))
    points = min(int(point_after[settled].max(initial=0)) + 1, precision - 1)
    zeros = max(0, -lowest - 1)
    width = 1 + (2 if lowest < 0 else 0) + zeros + precision + points + 4 * with_exponents + 1
    fallback = {
        index: (f"%.{precision}g" % values[index]).encode("ascii")
        for index in np.flatnonzero(unsettled).tolist()
    }
    width = max([width] + [len(text) + 1 for text in fallback.values()])

    def mark(mask, byte):
        return np.multiply(mask, byte, dtype=np.uint8)

    slots = np.empty((width, count), dtype=np.uint8)
    slots[0] = mark(np.signbit(values), ord("-"))
    row = 1
    if lowest < 0:
        slots[1] = mark(below_one, ord("0"))
        slots[2] = mark(below_one, ord("."))
        row = 3
    for j in range(1, zeros + 1):
        slots[row] = mark(below_one & (exponents < -j), ord("0"))
        row += 1
    for k in range(precision):
        np.multiply(kept > k, digits[k], out=slots[row])
        row += 1
        if k < points:
            slots[row] = mark((point_after == k) & (kept > k + 1), ord("."))
            row += 1
    if with_exponents:
        magnitude = np.abs(exponents).astype(np.uint8)
        slots[row] = mark(scientific, ord("e"))
        slots[row + 1] = mark(scientific, ord("+"))
        slots[row + 1] += mark(scientific & (exponents < 0), ord("-") - ord("+"))
        slots[row + 2] = np.multiply(scientific, magnitude // 10 + ord("0"), dtype=np.uint8)
        slots[row + 3] = np.multiply(scientific, magnitude % 10 + ord("0"), dtype=np.uint8)
    slots[row + 4 * with_exponents :] = 0
    slots[-1] = separators
    for index, text in fallback.items():
        slots[:, index] = 0
        slots[: len(text), index] = np.frombuffer(text, dtype=np.uint8)
        slots[-1, index] = separators[index]
    return slots


def format_lines(words, encoded, block, precision):
    """The bytes of the lines `word v1 ... vdim\\n` for a block of rows.

    Args:
        words: the block's words (str).
        encoded: `(joined, lengths)`: the words' UTF-8 bytes each followed by
            b" " (`bytes`), and their byte lengths without it (int64 `(rows,)`).
        block: float32 `(rows, dim)`.
        precision: significant digits of each value, 1 to `MAX_PRECISION`.

    Returns:
        A uint8 array holding the lines.
    """
    joined, lengths = encoded
    rows, dim = block.shape
    if b"\x00" in joined:  # The compaction drops NUL bytes; such words take the slow path.
        fmt = " ".join([f"%.{precision}g"] * dim)
        lines = [
            word + " " + fmt % tuple(row) + "\n" for word, row in zip(words, block.tolist())
        ]
        return np.frombuffer("".join(lines).encode("utf-8"), dtype=np.uint8)
    word_width = int(lengths.max()) + 1 if rows else 1
    separators = np.full((rows, dim), ord(" "), dtype=np.uint8)
    separators[:, -1] = ord("\n")
    values = value_slots(block.astype(np.float64).reshape(-1), precision, separators.reshape(-1))
    line_slots = np.zeros((rows, word_width + values.size // rows), dtype=np.uint8)
    # Word bytes (and their trailing space) go to the start of their row.
    starts = np.cumsum(lengths + 1) - (lengths + 1)
    within = np.arange(len(joined)) - np.repeat(starts, lengths + 1)
    row_of_byte = np.repeat(np.arange(rows), lengths + 1)
    line_slots[row_of_byte, within] = np.frombuffer(joined, dtype=np.uint8)
    line_slots[:, word_width:] = values.T.reshape(rows, -1)
    flat = line_slots.reshape(-1)
    # np.compress is several times faster than boolean indexing on irregular masks.
    return np.compress(flat != 0, flat)
