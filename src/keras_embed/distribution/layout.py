import re

import keras

from keras_embed._validation import describe
from keras_embed.ops.row_padding import ROWS


def _table_layers(model_or_layers):
    """Every layer, nested ones included, that declares `row_sharded_variables`."""
    if isinstance(model_or_layers, keras.layers.Layer):
        roots = [model_or_layers]
    elif isinstance(model_or_layers, (list, tuple)) and all(
        isinstance(layer, keras.layers.Layer) for layer in model_or_layers
    ):
        roots = list(model_or_layers)
    else:
        raise ValueError(
            "`model_or_layers` must be a keras Model or Layer, or a list of layers. "
            f"Received: model_or_layers={describe(model_or_layers)}."
        )
    found, seen = [], set()
    for root in roots:
        for layer in root._flatten_layers(include_self=True, recursive=True):
            if id(layer) not in seen and getattr(type(layer), "row_sharded_variables", None):
                seen.add(id(layer))
                found.append(layer)
    return found


def _check_axis(name, axis, mesh):
    if axis not in mesh.axis_names:
        raise ValueError(
            f"`{name}` must name an axis of the mesh {dict(zip(mesh.axis_names, mesh.shape))}. "
            f"Received: {name}={describe(axis)}."
        )
    return dict(zip(mesh.axis_names, mesh.shape))[axis]


def embedding_layout_map(model_or_layers, mesh, model_axis="model", data_axis=None, layout_map=None):
    """A `keras.distribution.LayoutMap` that shards every keras-embed table by rows.

    Walks `model_or_layers` (nested layers included) and, for every layer
    that declares `row_sharded_variables` (`Embedding`, `EmbeddingBag`,
    `ReversibleEmbedding` with its untied `reverse_embeddings`,
    `MaskedLMHead`'s `output_kernel` and `output_bias`, and any layer of
    ours or yours that sets that class attribute), maps each such variable
    to a layout that splits its vocabulary (row) axis over `model_axis`. With
    `data_axis`, the other axis of a 2-D table is split over `data_axis` too
    (as keras-hub's layout maps do), so each device holds
    `1 / (model size x data size)` of it.

    Keys are regular expressions matching the variable path by the layer's
    name (`(.*/)?token_embedding/embeddings`), so the map also applies to
    the same model built again under the distribution, as long as its
    layers have the same names (name them, or rebuild after
    `keras.utils.clear_session()`).

    Padding: a table whose rows the model axis does not divide is stored
    padded to the next multiple when it is created under the distribution
    (see docs/sharding.md); that happens whatever map
    shards it, this one or yours.

    Args:
        model_or_layers: a `keras.Model` or `keras.layers.Layer` (built or
            not), or a list of layers.
        mesh: a `keras.distribution.DeviceMesh`.
        model_axis: str. Mesh axis to split the rows over. Defaults to
            `"model"`.
        data_axis: str or `None`. Mesh axis to split the embedding axis
            over as well. Defaults to `None` (replicated).
        layout_map: an existing `keras.distribution.LayoutMap` on `mesh` to
            add the table entries to (your own rules for other variables);
            variables it already matches keep your layout. Defaults to a new
            map.

    Returns:
        The `keras.distribution.LayoutMap`, for
        `keras.distribution.ModelParallel(layout_map=...)`.

    Example:

    >>> import keras
    >>> from keras_embed.layers import Embedding
    >>> devices = [f"cpu:{i}" for i in range(8)]  # names; nothing runs here
    >>> mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"), devices)
    >>> table = Embedding(1000, 8, name="items")
    >>> layout_map = embedding_layout_map([table], mesh, data_axis="batch")
    >>> layout_map["shop/items/embeddings"].axes
    ('model', 'batch')
    """
    if not isinstance(mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            f"`mesh` must be a keras.distribution.DeviceMesh. Received: mesh={describe(mesh)}."
        )
    if _check_axis("model_axis", model_axis, mesh) == 1:
        raise ValueError(
            f"`model_axis` {model_axis!r} has size 1 in the mesh "
            f"{dict(zip(mesh.axis_names, mesh.shape))}: sharding tables over it would "
            "split nothing (and never pad). Use a mesh axis of size > 1, or "
            "`keras.distribution.DataParallel` to replicate the tables."
        )
    if data_axis is not None:
        _check_axis("data_axis", data_axis, mesh)
        if data_axis == model_axis:
            raise ValueError(
                "`data_axis` must differ from `model_axis`: a tensor axis cannot be "
                f"split twice over one mesh axis. Received: model_axis={model_axis!r}, "
                f"data_axis={data_axis!r}."
            )
    if layout_map is None:
        layout_map = keras.distribution.LayoutMap(mesh)
    elif not isinstance(layout_map, keras.distribution.LayoutMap):
        raise ValueError(
            "`layout_map` must be a keras.distribution.LayoutMap or None. "
            f"Received: layout_map={describe(layout_map)}."
        )
    elif layout_map.device_mesh is not mesh:
        raise ValueError(
            "`layout_map` must be built on the same `mesh`. Received a map on "
            f"{layout_map.device_mesh} and mesh={mesh}."
        )
    layers = _table_layers(model_or_layers)
    if not layers:
        raise ValueError(
            "`model_or_layers` holds no keras-embed table (no layer declares "
            f"`row_sharded_variables`). Received: model_or_layers={describe(model_or_layers)}."
        )
    for layer in layers:
        for variable_name, template in type(layer).row_sharded_variables.items():
            key = f"(.*/)?{re.escape(layer.name)}/{re.escape(variable_name)}"
            if key in set(layout_map) or layout_map[f"{layer.name}/{variable_name}"] is not None:
                continue  # the caller's own rule wins
            fill = data_axis if len(template) == 2 else None
            layout_map[key] = tuple(
                model_axis if axis == ROWS else fill for axis in template
            )
    return layout_map
