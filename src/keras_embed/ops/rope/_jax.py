"""JAX kernels of `keras_embed.ops.rope.rotation` (private): only a fusion barrier.

XLA already fuses the portable rotation well; what it needs is to be kept from
fusing cos/sin into the per-element loop, where it may recompute both
transcendentals once per batch and head instead of once per position.
"""

import jax


def materialize(tables):
    """`tables` behind an optimization barrier when traced; values are unchanged."""
    if any(isinstance(table, jax.core.Tracer) for table in tables):
        return jax.lax.optimization_barrier(tables)
    return tables


def applies(inputs, cos, sin):
    """No JAX fast rotation: the portable path is the fast one under XLA."""
    return False
