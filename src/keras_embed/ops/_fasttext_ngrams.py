"""fastText's character n-gram hashing, shared by `vectors` and `preprocessing` (private).

A leaf module (numpy only, no file readers), so `keras_embed.preprocessing.
SubwordTokenizer` and `keras_embed.vectors.fasttext_bin` hash n-grams with
the same code. fastText (Bojanowski et al., 2017) hashes each n-gram of
`<word>` with 32-bit FNV-1a, XORing each byte *sign-extended*
(`uint32_t(int8_t(c))`), so bytes >= 0x80 hash as 0xFFFFFFxx; the n-gram's
row is `nwords + hash % bucket`.
"""

import numpy as np

END_OF_SENTENCE = "</s>"
_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)


def fnv1a_fasttext(data):
    """fastText's 32-bit FNV-1a of `data` (bytes), with its signed-byte quirk."""
    value = 2166136261
    for byte in data:
        value ^= byte if byte < 0x80 else byte | 0xFFFFFF00
        value = (value * 16777619) & 0xFFFFFFFF
    return value


def ngram_rows(words, minn, maxn, bucket):
    """fastText's n-gram buckets of `<word>` for each word, with owners and an order key.

    fastText walks character starts `i`, then lengths `n = 1..maxn`,
    keeping `n >= minn` and dropping single characters at either end (the
    bare "<" and ">"); characters are UTF-8 sequences.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not words or maxn < 1 or bucket < 1 or maxn < minn:
        return empty, empty, empty
    wrapped = [b"<" + word.encode("utf-8") + b">" for word in words]
    lengths = np.fromiter(map(len, wrapped), dtype=np.int64, count=len(wrapped))
    data = np.frombuffer(b"".join(wrapped), dtype=np.uint8)
    word_ends = np.cumsum(lengths)
    byte_owner = np.repeat(np.arange(len(words)), lengths)
    char_starts = np.flatnonzero((data & 0xC0) != 0x80)  # (chars,)
    char_owner = byte_owner[char_starts]
    chars_per_word = np.bincount(char_owner, minlength=len(words))
    # Boundaries: each word's character starts followed by its end.
    last_boundary = np.cumsum(chars_per_word) + np.arange(len(words))  # (words,)
    char_boundary = np.arange(char_starts.size) + char_owner  # (chars,)
    boundaries = np.empty(char_starts.size + len(words), dtype=np.int64)
    boundaries[char_boundary] = char_starts
    boundaries[last_boundary] = word_ends
    first_char = np.concatenate([[0], last_boundary[:-1] + 1])[char_owner]
    signed = data.astype(np.int8).astype(np.int32).astype(np.uint32)

    rows, owners, keys = [], [], []
    for n in range(max(minn, 1), maxn + 1):
        valid = char_boundary + n <= last_boundary[char_owner]
        if n == 1:  # fastText skips the bare "<" and ">".
            valid &= (char_boundary != first_char) & (
                char_boundary + 1 != last_boundary[char_owner]
            )
        chars = np.flatnonzero(valid)
        starts = boundaries[char_boundary[chars]]
        stops = boundaries[char_boundary[chars] + n]
        hashes = np.full(chars.size, _FNV_OFFSET, dtype=np.uint32)
        span = stops - starts
        for step in range(int(span.max()) if span.size else 0):
            active = step < span
            index = np.minimum(starts + step, data.size - 1)
            mixed = (hashes ^ signed[index]) * _FNV_PRIME
            hashes = np.where(active, mixed, hashes)
        rows.append((hashes % np.uint32(bucket)).astype(np.int64))
        owners.append(char_owner[chars])
        keys.append(chars * (maxn + 1) + n)
    return np.concatenate(rows), np.concatenate(owners), np.concatenate(keys)
