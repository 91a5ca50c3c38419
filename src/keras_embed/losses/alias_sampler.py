"""`AliasSampler`: O(1) draws from a fixed discrete distribution (Vose's alias method)."""

import numpy as np

from keras_embed._validation import check_number, describe


class AliasSampler:
    """Samples ids with probability proportional to `counts ** power`.

    With `power=0.75` this is word2vec's noise distribution (Mikolov et al.,
    2013). The alias table (Vose, 1991) is built once in O(n); each draw then
    costs one uniform integer, one uniform float and one comparison.

    Args:
        counts: `(n,)` non-negative counts (or weights), not all zero.
        power: exponent applied to the counts.

    Attributes:
        probabilities: `(n,)` float64 target distribution.

    Example:

    >>> sampler = AliasSampler([1, 0, 3], power=1.0)
    >>> sorted(set(sampler.sample(100, seed=0).tolist()))
    [0, 2]
    """

    def __init__(self, counts, power=0.75):
        counts = np.asarray(counts, dtype=np.float64)
        power = check_number("power", power, finite=True)
        if counts.ndim != 1 or counts.size == 0 or not np.all(np.isfinite(counts)) or np.any(counts < 0) or not counts.any():
            raise ValueError(
                "`counts` must be a non-empty 1-D array of finite non-negative numbers, not all zero. "
                f"Received: {describe(counts if counts.size < 8 else counts.shape)}."
            )
        weights = np.where(counts > 0, counts, 0.0) ** power * (counts > 0)
        self.probabilities = weights / weights.sum()
        self.accept, self.alias = _alias_table(self.probabilities)

    def sample(self, shape, seed=None):
        """Ids of `shape` drawn independently; `seed` an int or `numpy.random.Generator`."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        slots = rng.integers(0, self.accept.size, size=shape)
        keep = rng.random(size=shape) < self.accept[slots]
        return np.where(keep, slots, self.alias[slots])


def _alias_table(probabilities):
    """`(accept, alias)`: slot i returns i with probability accept[i], else alias[i]."""
    count = probabilities.size
    scaled = probabilities * count
    accept = np.ones(count)
    alias = np.arange(count)
    small = [i for i in range(count) if scaled[i] < 1.0]
    large = [i for i in range(count) if scaled[i] >= 1.0]
    while small and large:
        lesser, greater = small.pop(), large.pop()
        accept[lesser] = scaled[lesser]
        alias[lesser] = greater
        # The large slot gives away what fills the small one.
        scaled[greater] -= 1.0 - scaled[lesser]
        (small if scaled[greater] < 1.0 else large).append(greater)
    return accept, alias
