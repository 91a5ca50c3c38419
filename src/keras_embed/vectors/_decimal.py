"""Vectorised parsing of whitespace-separated decimal numbers (private).

`parse_decimals` turns a buffer such as ``b"0.25 -1.5e-3\\n7"`` into a float
array with a fixed number of numpy passes per chunk, never creating one Python
object per value. Each token is cut into an integer part (up to 8 digits, read
right-aligned at the dot) and a fraction (up to 16 digits, read left-aligned
after it); both are loaded as little-endian uint64 lanes and converted with the
SWAR digit trick (8 ASCII digits to an integer in three multiply-shift steps,
as in simdjson). The result equals `float(token)` rounded to the requested
dtype, which is what gensim and fastText produce, because the fast path is
Clinger's exact case: an integer mantissa below 2**53 scaled by a power of ten
that float64 holds exactly is one correctly rounded operation. Tokens outside
it (more than 15 significant digits, `nan`, `inf`, huge exponents) fall back
to `float()`; embedding files rarely hold any.
"""

import numpy as np

_PAD = 16  # Separator bytes before the data, so windows may start before it.
_PAD_AFTER = 32  # ... and after it, so fraction windows may run past its end.
_MAX_TOKEN = 16  # Longer tokens take the float() path.
_EXPONENT_WIDTH = 4  # Digits an exponent may have on the fast path.
_MAX_POWER = 22  # 10**22 is the largest power of ten exact in float64.
_POWERS_OF_TEN_F64 = 10.0 ** np.arange(_MAX_POWER + 1)  # (23,)
_POWERS_OF_TEN_U64 = 10 ** np.arange(20, dtype=np.uint64)  # (20,)
_EXACT_LIMIT = np.uint64(1 << 53)


def _repeat(byte):
    return np.uint64(int.from_bytes(bytes([byte]) * 8, "little"))


_ZEROS = _repeat(0x30)  # Eight ASCII "0".
_SPACES = _repeat(0x20)
_DOTS = _repeat(0x2E)
_ES = _repeat(0x65)
_SEVEN_BITS = _repeat(0x7F)
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_HIGH_NIBBLES = _repeat(0xF0)
_SIXES = _repeat(0x06)
_THREES = _repeat(0x33)
_LOW_BYTE_PAIRS = np.uint64(0x000000FF000000FF)
_PAIR_MULTIPLIER = np.uint64(100 + (1000000 << 32))
_QUAD_MULTIPLIER = np.uint64(1 + (10000 << 32))
_ONE = np.uint64(1)
_THREE = np.uint64(3)


class DecimalSyntaxError(ValueError):
    """A token is not a number; `token_index` and `token` say which."""

    def __init__(self, token_index, token):
        super().__init__(f"{token!r} is not a number")
        self.token_index = token_index
        self.token = token


def token_bounds(data):
    """`(starts, ends)` byte offsets of the tokens between ASCII whitespace.

    Control bytes count as whitespace too; they never occur inside numbers.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    separators = np.flatnonzero(raw <= 32)
    starts = np.empty(separators.size + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = separators + 1
    ends = np.empty_like(starts)
    ends[:-1] = separators
    ends[-1] = raw.size
    non_empty = ends > starts
    if not non_empty.all():
        starts, ends = starts[non_empty], ends[non_empty]
    return starts, ends


def _lanes(words, offsets):
    """The 8 bytes at each data offset, as one little-endian uint64 each.

    `words` is the padded buffer seen as aligned uint64; an unaligned load is
    two aligned gathers and two shifts (numpy's unaligned gathers copy bytewise).
    """
    offsets = offsets + _PAD
    index = offsets >> 3
    shift = ((offsets & 7) * 8).astype(np.uint64)
    low = np.right_shift(words[index], shift)
    high = np.left_shift(words[index + 1], np.uint64(64) - shift)  # 0 when shift is 0.
    return low | high


def _keep_low_bytes(lane, count, filler=_ZEROS):
    """`lane` with bytes at or above `count` (0..8) replaced by `filler`'s."""
    keep = ~np.left_shift(_ALL_ONES, (count * 8).astype(np.uint64))
    return (lane & keep) | (filler & ~keep)


def _keep_high_bytes(lane, count):
    """`lane` with only its top `count` (0..8) bytes kept, the rest ASCII "0"."""
    keep = np.left_shift(_ALL_ONES, ((8 - count) * 8).astype(np.uint64))
    return (lane & keep) | (_ZEROS & ~keep)


def _byte_marks(lane, pattern):
    """The top bit of every byte of `lane` that equals `pattern`'s byte."""
    differ = lane ^ pattern
    return ~(((differ & _SEVEN_BITS) + _SEVEN_BITS) | differ | _SEVEN_BITS)


def _first_mark(marks):
    """Byte index (0..7) of the lowest marked byte; 8 when none is."""
    lowest = marks & (~marks + _ONE)
    return (np.bitwise_count(lowest - _ONE) >> _THREE).astype(np.int64)


def _find_byte(head, tail, pattern):
    """Offset in the token of the first byte equal to `pattern`, and the count."""
    head_marks, tail_marks = _byte_marks(head, pattern), _byte_marks(tail, pattern)
    count = np.bitwise_count(head_marks) + np.bitwise_count(tail_marks)
    first = np.where(head_marks != 0, _first_mark(head_marks), 8 + _first_mark(tail_marks))
    return first, count


def _all_digits(lane):
    return ((lane & _HIGH_NIBBLES) | (((lane + _SIXES) & _HIGH_NIBBLES) >> np.uint64(4))) == _THREES


def _eight_digits(lane):
    """Integer value of 8 ASCII digits, the first one in the lowest byte."""
    lane = lane - _ZEROS
    lane = lane * np.uint64(10) + (lane >> np.uint64(8))
    low = (lane & _LOW_BYTE_PAIRS) * _PAIR_MULTIPLIER
    high = ((lane >> np.uint64(16)) & _LOW_BYTE_PAIRS) * _QUAD_MULTIPLIER
    return (low + high) >> np.uint64(32)


def parse_decimals(data, dtype="float32"):
    """Parse every whitespace-separated token of `data` as a number.

    Args:
        data: bytes-like object of ASCII text.
        dtype: numpy float dtype of the result.

    Returns:
        A 1-D array with one value per token, in order.

    Raises:
        DecimalSyntaxError: for the first token that is not a number.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    starts, ends = token_bounds(data)
    count = starts.size
    values = np.empty(count, dtype=dtype)
    if count == 0:
        return values
    # Whole uint64 words, so the buffer can be read as aligned lanes.
    words = np.empty((_PAD + raw.size + _PAD_AFTER + 7) // 8 + 1, dtype="<u8")
    padded = words.view(np.uint8)
    padded[:] = 32
    padded[_PAD : _PAD + raw.size] = raw
    words = words.astype(np.uint64, copy=False)

    lengths = ends - starts
    short = np.minimum(lengths, _MAX_TOKEN)
    # The token's first 16 bytes, blanked past its end.
    head = _keep_low_bytes(_lanes(words, starts), np.minimum(short, 8), _SPACES)
    tail = _keep_low_bytes(_lanes(words, starts + 8), np.clip(short - 8, 0, 8), _SPACES)

    first = (head & np.uint64(0xFF)).astype(np.uint8)
    negative = first == 45
    mantissa_start = starts + (negative | (first == 43))
    exp_offset, exp_count = _find_byte(head | _SPACES, tail | _SPACES, _ES)
    has_exp = exp_count > 0
    exp_at = np.where(has_exp, starts + exp_offset, ends)
    dot_offset, dot_count = _find_byte(head, tail, _DOTS)
    has_dot = (dot_count > 0) & (starts + dot_offset < exp_at)
    dot_at = np.where(has_dot, starts + dot_offset, exp_at)

    integer_digits = dot_at - mantissa_start  # (tokens,)
    fraction_digits = np.where(has_dot, exp_at - dot_at - 1, 0)
    fast = (
        (lengths <= _MAX_TOKEN)
        & (integer_digits <= 8)
        & (fraction_digits <= 16)
        & (integer_digits + fraction_digits >= 1)
        & (dot_count <= 1)
        & (exp_count <= 1)
    )

    integer_lane = _keep_high_bytes(_lanes(words, dot_at - 8), np.minimum(integer_digits, 8))
    fraction_start = dot_at + 1
    fraction_head = _keep_low_bytes(
        _lanes(words, fraction_start), np.minimum(fraction_digits, 8)
    )
    fraction_tail = _keep_low_bytes(
        _lanes(words, fraction_start + 8), np.clip(fraction_digits - 8, 0, 8)
    )
    fast &= (
        _all_digits(integer_lane) & _all_digits(fraction_head) & _all_digits(fraction_tail)
    )
    fraction_digits = np.minimum(fraction_digits, 16)
    # The lanes hold the fraction left-aligned in 16 digits: drop the padding zeros.
    fraction = (
        _eight_digits(fraction_head) * _POWERS_OF_TEN_U64[8] + _eight_digits(fraction_tail)
    ) // _POWERS_OF_TEN_U64[16 - fraction_digits]
    mantissa = _eight_digits(integer_lane) * _POWERS_OF_TEN_U64[fraction_digits] + fraction
    fast &= mantissa < _EXACT_LIMIT

    power = -fraction_digits
    if has_exp.any():
        after_exp = exp_at + 1
        exp_sign = has_exp & ((padded[after_exp + _PAD] == 45) | (padded[after_exp + _PAD] == 43))
        exponent_digits = np.where(has_exp, ends - after_exp - exp_sign, 0)
        exponent_lane = _keep_high_bytes(
            _lanes(words, ends - 8), np.clip(exponent_digits, 0, 8)
        )
        fast &= ~has_exp | (
            (exponent_digits >= 1)
            & (exponent_digits <= _EXPONENT_WIDTH)
            & _all_digits(exponent_lane)
        )
        magnitude = _eight_digits(exponent_lane).astype(np.int64)
        exponent = np.where(padded[after_exp + _PAD] == 45, -magnitude, magnitude)
        power = power + np.where(has_exp, exponent, 0)
    fast &= np.abs(power) <= _MAX_POWER

    scale = _POWERS_OF_TEN_F64[np.minimum(np.abs(power), _MAX_POWER)]
    magnitude = mantissa.astype(np.float64)
    magnitude = np.where(power >= 0, magnitude * scale, magnitude / scale)
    np.negative(magnitude, out=magnitude, where=negative)
    values[...] = magnitude

    slow_tokens = np.flatnonzero(~fast)
    if slow_tokens.size:
        _parse_one_by_one(data, starts, ends, slow_tokens, values)
    return values


def _parse_one_by_one(data, starts, ends, tokens, values):
    """`float()` for the tokens the fast path cannot take exactly."""
    texts = [
        bytes(data[start:end])
        for start, end in zip(starts[tokens].tolist(), ends[tokens].tolist())
    ]
    try:
        if any(b"_" in text for text in texts):  # float() takes "1_0"; we don't.
            raise ValueError
        values[tokens] = list(map(float, texts))
    except ValueError:
        for token, text in zip(tokens.tolist(), texts):
            try:
                if b"_" in text:
                    raise ValueError
                float(text)
            except ValueError:
                raise DecimalSyntaxError(token, text.decode("utf-8", "replace")) from None
