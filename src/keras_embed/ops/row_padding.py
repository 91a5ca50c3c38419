"""Tables stored with padding rows so that a device mesh divides them (private).

JAX shards an array only when every sharded axis divides evenly over its
devices: a `(50257, d)` table cannot be split over 8 devices. Under a
`keras.distribution` that shards a table's rows over `n` devices, a table of
`rows` rows is therefore stored with `padded_row_count(rows, n)` rows (the
next multiple of `n`), the padding rows zero. Everything the user sees keeps
`rows`: the table layers gather only ids below `rows`, slice the padding off
before a reverse projection or a fused loss, and save, load, get and set
unpadded arrays. This module holds all of that logic; the layers reach it
through `keras_embed.layers._padded_table.PaddedTableMixin`.

The padding a variable carries is recorded on the variable itself as
`(rows, axis)` (attribute `_keras_embed_row_padding`), so any layer holding
a shared table (a `MaskedLMHead` tied to an embedding) can unpad it.
"""

import math
import types

import keras
import numpy as np
from keras import ops

from keras_embed.ops._backend import current_distribution

_PADDING_ATTRIBUTE = "_keras_embed_row_padding"

# Marks the vocabulary (row) axis in a layer's `row_sharded_variables` templates.
ROWS = "rows"


def padded_row_count(rows, shards):
    """The smallest multiple of `shards` that is at least `rows`."""
    return int(math.ceil(rows / shards) * shards)


def _axis_size(mesh, axis_names):
    """Devices along one tensor axis: the product of the mesh axes it is split over."""
    if axis_names is None:
        return 1
    names = axis_names if isinstance(axis_names, (tuple, list)) else (axis_names,)
    sizes = dict(zip(mesh.axis_names, mesh.shape))
    return int(np.prod([sizes[name] for name in names]))


def variable_layout(path, shape):
    """The `TensorLayout` the current `keras.distribution` gives a variable, or `None`."""
    distribution = current_distribution()
    if distribution is None:
        return None
    # `get_variable_layout` reads only these three attributes.
    probe = types.SimpleNamespace(path=path, shape=tuple(shape), _layout=None)
    layout = distribution.get_variable_layout(probe)
    if layout is None or not hasattr(layout, "axes"):
        return None
    if layout.device_mesh is None:
        layout.device_mesh = distribution.device_mesh
    return layout


def row_shards(path, shape, axis):
    """How many devices the current distribution splits axis `axis` of a variable over.

    Also checks the other axes: a layout that splits them unevenly raises a
    `ValueError` naming the variable (only the rows are padded).
    """
    layout = variable_layout(path, shape)
    if layout is None:
        return 1
    if len(layout.axes) != len(shape):
        raise ValueError(
            f"The layout of `{path}` names {len(layout.axes)} axes {layout.axes}, but "
            f"the variable has shape {tuple(shape)}."
        )
    for other, (size, names) in enumerate(zip(shape, layout.axes)):
        devices = _axis_size(layout.device_mesh, names)
        if other != axis and size % devices:
            raise ValueError(
                f"The layout {layout.axes} splits axis {other} of `{path}` (size {size}) "
                f"over {devices} devices, which does not divide it. Only the rows of a "
                "table are padded; shard the other axes over a mesh axis that divides them."
            )
    return _axis_size(layout.device_mesh, layout.axes[axis])


class PaddedRowsInitializer(keras.initializers.Initializer):
    """Initialises `rows` rows with `initializer` and the padding rows with zeros."""

    def __init__(self, initializer, rows, axis):
        self.initializer = keras.initializers.get(initializer)
        self.rows = rows
        self.axis = axis

    def __call__(self, shape, dtype=None):
        logical_shape = list(shape)
        logical_shape[self.axis] = self.rows
        values = self.initializer(tuple(logical_shape), dtype=dtype)
        padding = list(shape)
        padding[self.axis] = shape[self.axis] - self.rows
        return ops.concatenate([values, ops.zeros(padding, dtype=values.dtype)], axis=self.axis)


def padding_of(variable):
    """`(rows, axis)` for a padded variable, `None` for any other."""
    return getattr(variable, _PADDING_ATTRIBUTE, None)


def mark_padded(variable, rows, axis):
    setattr(variable, _PADDING_ATTRIBUTE, (int(rows), int(axis)))


def unpadded(variable):
    """The variable's logical value: the padding rows sliced off (the variable itself if none).

    Inside a compiled function the slice of a sharded array stays sharded;
    its gradient reaches the padding rows as zeros.
    """
    padding = padding_of(variable)
    if padding is None:
        return variable
    rows, axis = padding
    index = [slice(None)] * len(variable.shape)
    index[axis] = slice(0, rows)
    return ops.convert_to_tensor(variable)[tuple(index)]


def unpadded_numpy(variable):
    """The variable's logical value as a numpy array."""
    values = ops.convert_to_numpy(variable)
    padding = padding_of(variable)
    if padding is None:
        return values
    rows, axis = padding
    return np.take(values, np.arange(rows), axis=axis)


def padded_numpy(variable, values):
    """`values` in the variable's stored shape: logical arrays get zero padding rows.

    Arrays already of the stored shape pass unchanged; any other shape raises
    a `ValueError` naming both.
    """
    padding = padding_of(variable)
    values = np.asarray(ops.convert_to_numpy(values))
    stored = tuple(variable.shape)
    if padding is None or values.shape == stored:
        return values
    rows, axis = padding
    logical = list(stored)
    logical[axis] = rows
    if values.shape != tuple(logical):
        raise ValueError(
            f"`{variable.path}` holds {rows} rows of shape {tuple(logical)} (stored padded "
            f"to {stored} for sharding). Received an array of shape {values.shape}."
        )
    widths = [(0, 0)] * values.ndim
    widths[axis] = (0, stored[axis] - rows)
    return np.pad(values, widths)
