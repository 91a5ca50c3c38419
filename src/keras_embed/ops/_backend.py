"""The one place that asks which backend runs (private).

Everything else is portable `keras.ops`. This module reads a tensor's values
when they are known now, picks the backend's fused cross-entropy kernel, and
gathers with a backend's own indexing where the portable form costs an extra
pass (JAX's `mode="fill"` gather) or does not trace (TensorFlow graphs with an
unknown batch size).
"""

import importlib
import numbers

import keras
import numpy as np
from keras import ops

from keras_embed._keras_internals import AutocastScope
from keras_embed._keras_internals import in_stateless_scope
from keras_embed._keras_internals import set_keras_mask


def concrete_value(x):
    """Return `x` as a numpy array when its values are known now, else `None`.

    Values are known for Python and numpy inputs and for eager backend tensors;
    they are unknown for symbolic tensors and inside traced or compiled
    functions (`jax.jit`, `tf.function`, `torch.compile`).
    """
    if x is None:
        return None
    if isinstance(x, (numbers.Number, list, tuple, np.ndarray, np.generic)):
        return np.asarray(x)
    module = type(x).__module__
    if module.startswith("jax"):
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
        return np.asarray(x)
    if module.startswith("torch"):
        import torch

        if torch.compiler.is_compiling():
            return None
        x = x.detach().cpu()
        # numpy has no bfloat16; float32 holds every bfloat16 value exactly.
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    if module.startswith("tensorflow"):
        import tensorflow as tf

        if not tf.executing_eagerly() or not hasattr(x, "numpy"):
            return None
        try:
            return x.numpy()
        except (AttributeError, TypeError, ValueError):
            return None
    return None


def kernels_for_backend(modules):
    """The module `modules[backend]` names for the running backend, imported, or None.

    The caller owns the table of module names, so the import graph shows its
    own edge to its kernels (an `ops.rope` kernel picked from here would make
    `_backend` reach back into the package that imports it).
    """
    name = modules.get(keras.config.backend())
    return None if name is None else importlib.import_module(name)


_CROSS_ENTROPY_KERNELS = {
    "jax": "keras_embed.ops._cross_entropy_jax",
    "torch": "keras_embed.ops._cross_entropy_torch",
    "tensorflow": "keras_embed.ops._cross_entropy_tf",
}


def fused_cross_entropy():
    """The backend's fused `fused_loss(hidden, table, bias, labels, coefficients, options)`, or None."""
    kernels = kernels_for_backend(_CROSS_ENTROPY_KERNELS)
    return None if kernels is None else kernels.fused_loss


def row_sparse_kernels():
    """The torch kernels module for row-sparse optimizer steps (`_row_sparse_torch`), or None.

    None on JAX and TensorFlow (the portable step compiles there), inside a
    stateless scope (keras' `stateless_apply` writes no variable in place) and
    under `torch.compile` (the kernels' shapes follow the data).
    """
    if keras.config.backend() != "torch":
        return None
    import torch

    if in_stateless_scope() or torch.compiler.is_compiling():
        return None
    from keras_embed.ops import _row_sparse_torch as kernels

    return kernels


def take(params, indices, batch_dims=0):
    """`params` gathered along axis `batch_dims` at `indices` (all in range).

    `batch_dims=0`: `(rows, ...)`, `(...)` -> `(..., ...)`; `params` may be a
    `keras.Variable`, read only at `indices` on TensorFlow.
    `batch_dims=1`: `(batch, length, d)`, `(batch, m)` -> `(batch, m, d)`.
    """
    if batch_dims == 0:
        if isinstance(params, keras.Variable):
            params = params.value
        if is_resource_variable(params):
            import tensorflow as tf

            # A resource gather reads only these rows: reading the whole variable (`ops.take`)
            # keeps its buffer alive, so a scatter into it later in the step copies it whole.
            return tf.gather(params, indices)
        return ops.take(params, indices, axis=0)
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        # take_along_axis cannot broadcast an unknown batch size in TF graphs.
        return tf.gather(params, indices, batch_dims=1)
    return ops.take_along_axis(params, ops.expand_dims(indices, -1), axis=1)


def is_resource_variable(x):
    """Whether `x` is a TensorFlow variable, which `take` reads by a resource gather."""
    return keras.config.backend() == "tensorflow" and hasattr(x, "sparse_read")


def current_distribution():
    """The `keras.distribution` in effect, or None (Keras distributes only on JAX)."""
    if keras.config.backend() != "jax":
        return None
    return keras.distribution.distribution()


def take_filling_zeros(params, indices, batch_dims=0):
    """`take` with zero rows for indices out of range, by JAX's `mode="fill"` gather; else None.

    One gather instead of a mask, a gather and a select: the fast path of
    `keras_embed.ops.lookup.take_or_zeros`, which has the portable one.
    """
    # Not per batch row: `jnp.take_along_axis` wraps negative (and cast-back unsigned) ids first.
    if keras.config.backend() != "jax" or batch_dims != 0:
        return None
    import jax.numpy as jnp

    # Unsigned ids turn negatives into huge ones, so "fill" zeroes both ends.
    return jnp.take(params, indices.astype(jnp.uint32), axis=0, mode="fill", fill_value=0)


def attach_mask(outputs, mask):
    """Give `outputs` a Keras mask, as `keras.layers.Embedding` gives its outputs.

    Keras reads the mask of a tensor from an attribute that only its private
    `backend.set_keras_mask` sets (it also works on JAX arrays, which take no
    attributes).
    """
    set_keras_mask(outputs, mask)


def scatter_rows_in_place(variable, ids, rows, valid=None):
    """`variable[ids] = rows` for 1-D `ids` and `(n, d)` `rows`, skipping ids outside the table.

    In place on torch and TensorFlow; on JAX (immutable arrays) an assignment of
    a copy, which a stateless scope records like any other. `valid`, a bool
    `(n,)` tensor, marks the ids inside the table; `None` says all of them are
    (ids checked already), which spares the filtering. JAX drops ids outside
    the table by itself and ignores `valid`.
    """
    backend = keras.config.backend()
    if backend == "jax":
        import jax.numpy as jnp

        table = jnp.asarray(variable.value)
        variable.assign(table.at[ids.astype(jnp.uint32)].set(rows, mode="drop"))
        return
    if valid is not None:
        if backend == "tensorflow":
            import tensorflow as tf

            ids, rows = tf.boolean_mask(ids, valid), tf.boolean_mask(rows, valid)
        else:
            ids, rows = ids[valid], rows[valid]
    if in_stateless_scope():
        variable.assign(ops.scatter_update(variable.value, ops.expand_dims(ids, -1), rows))
    elif backend == "tensorflow":
        import tensorflow as tf

        variable.value.scatter_update(tf.IndexedSlices(rows, ids))
    else:
        import torch

        with torch.no_grad():
            variable.value.index_copy_(0, ids.long(), rows)


def writes_persist_from_call(variable, ids):
    """Whether a variable write made while looking up `ids` outlives the call.

    A JAX stateless call (`model.fit`) returns only non-trainable variables,
    and a write inside a user's own `jax.jit` would leak a tracer into the
    variable; torch and TensorFlow write their variables in place.
    """
    if keras.config.backend() != "jax":
        return True
    import jax

    if in_stateless_scope():
        return not variable.trainable
    return not isinstance(ids, jax.core.Tracer)


def stored_value(read):
    """What `read()` returns in the variables' own dtype, without keras' autocast.

    Inside a layer call under a mixed policy keras casts every variable it reads
    to the compute dtype (bfloat16); lookups and reverse projections read the
    float32 table instead and cast once where the numerics call for it.
    """
    with AutocastScope(None):
        value = read()
        if isinstance(value, keras.Variable):
            value = value.value
    return value


def scatter_add_rows(variable, ids, rows):
    """`variable[ids] += rows` for 1-D `ids` in range and `(n, d)` `rows`, repeated ids summed.

    In place on torch and TensorFlow; on JAX an assignment of the updated
    array, which `compile_variable_updates` turns into an in-place write.
    """
    backend = keras.config.backend()
    rows = ops.cast(rows, variable.dtype)
    if backend == "jax":
        # The ids are in range by contract; without bounds checks XLA's CPU scatter runs about twice as fast.
        variable.assign(variable.value.at[ids].add(rows, mode="promise_in_bounds"))
    elif backend == "tensorflow":
        import tensorflow as tf

        variable.value.scatter_add(tf.IndexedSlices(rows, ids))
    else:
        import torch

        with torch.no_grad():
            variable.value.index_add_(0, ids.long(), rows)


def compile_variable_updates(function, variables):
    """`function(*tensors)`, compiled, for a function that reads and assigns `variables`.

    JAX: `jax.jit` of the function run in a stateless scope, the variables'
    buffers donated so that XLA updates them in place. TensorFlow: a
    `tf.function`. Torch: the function itself, run eagerly without autograd
    (its updates are in-place kernels already).

    Returns:
        A callable with `function`'s arguments and outputs; after each call
        the variables hold their new values.
    """
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return _run_donating(jax.jit(_stateless(function, variables), donate_argnums=0), variables)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True)
    if backend == "torch":
        import torch

        def run(*args):
            with torch.no_grad():
                return function(*args)

        return run
    return function


def compile_variable_update_loop(function, variables):
    """`run(blocks, *constants)`: `function(*block_slices, *constants)` for each slice in order.

    `function` reads and assigns `variables` and returns a scalar; `blocks` is
    a tuple of numpy arrays of one leading length `s`, and step `k` gets each
    one's row `k` as a tensor. JAX: the `s` steps run in one `jax.jit` of a `fori_loop`, the
    variables' buffers donated, which spares `s - 1` dispatches and variable
    write-backs. Elsewhere: `compile_variable_updates`' step called `s` times.

    Returns:
        A callable whose result is the sum of the `s` outputs; after each call
        the variables hold their new values.
    """
    if keras.config.backend() != "jax":
        step = compile_variable_updates(function, variables)

        def run_steps(blocks, *constants):
            total = 0.0
            for k in range(len(blocks[0])):
                total = total + step(*(ops.convert_to_tensor(block[k]) for block in blocks), *constants)
            return total

        return run_steps
    import jax
    import jax.numpy as jnp

    step = _stateless(function, variables)

    def stateless_loop(values, blocks, *constants):
        def body(k, carry):
            values, total = carry
            values, output = step(values, *(block[k] for block in blocks), *constants)
            return values, total + output

        return jax.lax.fori_loop(0, blocks[0].shape[0], body, (values, jnp.float32(0.0)))

    run_loop = _run_donating(jax.jit(stateless_loop, donate_argnums=0), variables)

    def run(blocks, *constants):
        return run_loop(tuple(jnp.asarray(block) for block in blocks), *constants)

    return run


def _stateless(function, variables):
    """`(values, *args) -> (new values, outputs)`: `function` run on `values` for `variables` (JAX)."""

    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            outputs = function(*args)
        return [scope.get_current_value(v) for v in variables], outputs

    return stateless


def _run_donating(jitted, variables):
    """`run(*args)`: `jitted(values, *args)` on the variables' buffers, the new values assigned back."""

    def run(*args):
        values, outputs = jitted([v.value for v in variables], *args)
        for variable, value in zip(variables, values):
            variable.assign(value)
        return outputs

    return run
