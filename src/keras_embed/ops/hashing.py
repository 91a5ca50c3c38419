"""Integer hashing of 64-bit ids in the graph, the same numbers on every backend.

Used by `keras_embed.layers.HashEmbedding`. Everything is computed with int32
tensors holding 16-bit limbs, so no operation ever overflows, sign-extends
differently or needs int64 on device (JAX runs with `jax_enable_x64` off):
the results are identical on JAX, PyTorch and TensorFlow, on any platform.

The function. A 64-bit id is read as two unsigned 32-bit words, `high` and
`low` (an int32 id is sign-extended first, so `-1` as int32 and as int64
hash alike). Hash number `i` with seed `s` is

    key_i    = mix32(mix32(s) ^ mix32(i + 0x9E3779B9))   # computed once, in Python
    hash_i   = mix32(mix32(low ^ key_i) ^ high)
    bucket_i = (hash_i & 0x7FFFFFFF) % num_buckets

where all arithmetic is modulo 2**32 and `mix32` is a xorshift-multiply
finaliser in the style of MurmurHash3's `fmix32`:

    x ^= x >> 16;  x *= 0x7FEB352D;  x ^= x >> 15;  x *= 0x2C1B3C6D;  x ^= x >> 16

Both multipliers have bit 15 of each 16-bit half clear, so each partial
product of a 16-bit limb with a multiplier half is below 2**31 and fits int32.
`mix32` is a bijection of 32-bit words, so two ids with the same `high`
word never share `hash_i`.
"""

from keras import ops

_MASK16 = 0xFFFF
_MASK32 = 0xFFFFFFFF
_MULTIPLIERS = (0x7FEB352D, 0x2C1B3C6D)
_GOLDEN = 0x9E3779B9


def mix32_python(value):
    """`mix32` on a Python int (the reference the graph version reproduces)."""
    value &= _MASK32
    value ^= value >> 16
    value = (value * _MULTIPLIERS[0]) & _MASK32
    value ^= value >> 15
    value = (value * _MULTIPLIERS[1]) & _MASK32
    value ^= value >> 16
    return value


def hash_keys(seed, count):
    """The 32-bit keys of hash functions `0..count-1` for `seed` (Python ints)."""
    seed_mix = mix32_python(seed)
    return [mix32_python(seed_mix ^ mix32_python(index + _GOLDEN)) for index in range(count)]


def id_limbs(ids, id_pairs=False):
    """Four 16-bit limbs `(l3, l2, l1, l0)` (most significant first) of 64-bit ids.

    Args:
        ids: int32 or int64 tensor of ids of shape `(...)`; or, with
            `id_pairs=True`, an int32 tensor of shape `(..., 2)` holding the
            high and the low 32 bits of each id.
        id_pairs: whether `ids` comes as `(high, low)` int32 pairs.

    Returns:
        Four int32 tensors of shape `(...)` with values in `[0, 65536)`.
    """
    if id_pairs:
        high, low = ids[..., 0], ids[..., 1]
        return _word_limbs(high) + _word_limbs(low)
    if "64" in str(ids.dtype):
        return tuple(
            ops.cast(ops.bitwise_and(ops.right_shift(ids, shift), _MASK16), "int32")
            for shift in (48, 32, 16, 0)
        )
    ids = ops.cast(ids, "int32")
    sign = ops.where(ops.less(ids, 0), _MASK16, 0)  # Sign extension of the high word.
    sign = ops.cast(sign, "int32")
    return (sign, sign) + _word_limbs(ids)


def _word_limbs(word):
    """`(high16, low16)` of an int32 tensor read as an unsigned 32-bit word."""
    word = ops.cast(word, "int32")
    return (
        ops.bitwise_and(ops.right_shift(word, 16), _MASK16),
        ops.bitwise_and(word, _MASK16),
    )


def _xor_constant(word, constant):
    high, low = word
    return (ops.bitwise_xor(high, constant >> 16), ops.bitwise_xor(low, constant & _MASK16))


def _xor(word, other):
    return (ops.bitwise_xor(word[0], other[0]), ops.bitwise_xor(word[1], other[1]))


def _xor_shift(word, shift):
    """`x ^ (x >> shift)` for shift 15 or 16."""
    high, low = word
    if shift == 16:
        return (high, ops.bitwise_xor(low, high))
    shifted_low = ops.bitwise_and(
        ops.bitwise_or(ops.left_shift(high, 16 - shift), ops.right_shift(low, shift)), _MASK16
    )
    return (ops.bitwise_xor(high, ops.right_shift(high, shift)), ops.bitwise_xor(low, shifted_low))


def _multiply(word, constant):
    """`x * constant mod 2**32`; the constant's 16-bit halves must be below 2**15."""
    high, low = word
    constant_high, constant_low = constant >> 16, constant & _MASK16
    low_product = ops.multiply(low, constant_low)  # < 2**31
    cross = ops.add(
        ops.bitwise_and(ops.multiply(high, constant_low), _MASK16),
        ops.bitwise_and(ops.multiply(low, constant_high), _MASK16),
    )
    new_high = ops.bitwise_and(ops.add(ops.right_shift(low_product, 16), cross), _MASK16)
    return (new_high, ops.bitwise_and(low_product, _MASK16))


def mix32(word):
    """`mix32` (see the module docstring) on a `(high16, low16)` pair of int32 tensors."""
    word = _xor_shift(word, 16)
    word = _multiply(word, _MULTIPLIERS[0])
    word = _xor_shift(word, 15)
    word = _multiply(word, _MULTIPLIERS[1])
    return _xor_shift(word, 16)


def hash_ids(ids, num_hashes, seed=0, id_pairs=False):
    """`num_hashes` independent 31-bit hashes of each 64-bit id.

    Args:
        ids: integer ids, as `id_limbs` takes them.
        num_hashes: int. Number of hash functions.
        seed: int in `[0, 2**32)`. Selects the family of hash functions.
        id_pairs: whether ids come as `(high, low)` int32 pairs on the last axis.

    Returns:
        int32 tensor of shape `(..., num_hashes)` with values in `[0, 2**31)`.
    """
    limbs = id_limbs(ids, id_pairs)
    high, low = (limbs[0], limbs[1]), (limbs[2], limbs[3])
    hashes = []
    for key in hash_keys(seed, num_hashes):
        word = mix32(_xor(mix32(_xor_constant(low, key)), high))
        hashes.append(
            ops.add(ops.left_shift(ops.bitwise_and(word[0], 0x7FFF), 16), word[1])
        )
    return ops.stack(hashes, axis=-1)


def hash_buckets(ids, num_buckets, num_hashes, seed=0, id_pairs=False):
    """`hash_ids(...) % num_buckets`: int32 buckets of shape `(..., num_hashes)`."""
    return ops.mod(hash_ids(ids, num_hashes, seed, id_pairs), num_buckets)
