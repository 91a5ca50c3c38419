"""Draws from a Vose alias table inside a compiled step (`keras.random`)."""

import keras
from keras import ops


def draw_from_alias_table(accept, alias, shape, seed):
    """Ids of `shape` drawn from the distribution an alias table encodes.

    Args:
        accept: `(n,)` float32, the probability that slot `i` returns `i`.
        alias: `(n,)` int32, what slot `i` returns otherwise.
        shape: the shape of the draw.
        seed: a `keras.random.SeedGenerator` (or an int).

    Returns:
        int32 ids of `shape`, as `keras_embed.losses.AliasSampler.sample` draws them.
    """
    slots = keras.random.randint(shape, 0, ops.shape(accept)[0], dtype="int32", seed=seed)
    coins = keras.random.uniform(shape, dtype="float32", seed=seed)
    return ops.where(coins < ops.take(accept, slots), slots, ops.take(alias, slots))
