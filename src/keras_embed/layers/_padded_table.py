"""What every keras-embed table layer shares about sharding (private)."""

import keras

from keras_embed._keras_internals import current_path
from keras_embed.ops import row_padding


class PaddedTableMixin:
    """Stores row-sharded tables padded to the mesh, and shows them unpadded.

    A layer lists in `row_sharded_variables` the variables that index the
    vocabulary (or the rows of a table), each with a template of its axes in
    which `"rows"` marks the axis that does (`("rows", None)` for a
    `(V, d)` table, `(None, "rows")` for a `(d, V)` kernel, `("rows",)` for
    a bias). Two things follow:

    - `keras_embed.distribution.embedding_layout_map` shards those axes over
      the model axis of a device mesh;
    - when such a variable is created under a `keras.distribution` that
      splits that axis over `n` devices and `n` does not divide it, it is
      stored padded to the next multiple of `n` (zero rows). `get_weights`,
      `set_weights`, `.keras` and `.weights.h5` files see the logical
      (unpadded) arrays; `self.unpadded(variable)` gives the logical tensor.

    Mix it in before the keras base class.
    """

    # Variable name -> axes template, "rows" marking the vocabulary axis.
    row_sharded_variables = {}

    def add_weight(self, *args, **kwargs):
        name = kwargs.get("name")
        template = self.row_sharded_variables.get(name)
        shape = kwargs.get("shape")
        if template is None or args or shape is None:
            return super().add_weight(*args, **kwargs)
        axis = template.index(row_padding.ROWS)
        # The path keras will give the variable, which the layout map is keyed on.
        parent = current_path()
        path = f"{parent}/{name}" if parent else name
        shape = tuple(int(size) for size in shape)
        rows = shape[axis]
        shards = row_padding.row_shards(path, shape, axis)
        if shards > 1 and getattr(self, "sparse", False):
            raise ValueError(
                f"Row-sparse training (`sparse=True`) does not support sharded tables yet: "
                f"the current distribution splits the rows of `{path}` over {shards} "
                "devices. Use sparse=False (dense updates) for a sharded table, or "
                "keep this table replicated."
            )
        stored_rows = row_padding.padded_row_count(rows, shards)
        if stored_rows == rows:
            return super().add_weight(*args, **kwargs)
        stored = list(shape)
        stored[axis] = stored_rows
        kwargs["shape"] = tuple(stored)
        initializer = kwargs.get("initializer")
        if initializer is None:  # keras' default for a float variable
            dtype = keras.backend.standardize_dtype(kwargs.get("dtype") or self.variable_dtype)
            initializer = "glorot_uniform" if "float" in dtype else "zeros"
        kwargs["initializer"] = row_padding.PaddedRowsInitializer(initializer, rows, axis)
        variable = super().add_weight(**kwargs)
        row_padding.mark_padded(variable, rows, axis)
        return variable

    def _padded_variables(self):
        return [v for v in self.weights if row_padding.padding_of(v) is not None]

    def _refuse_padded(self, what):
        for variable in self._padded_variables():
            rows, axis = row_padding.padding_of(variable)
            raise ValueError(
                f"{what} is not supported on a table stored padded for sharding "
                f"({variable.path}: {rows} rows stored as {variable.shape[axis]}). Use a "
                "vocabulary size the model axis divides, so that nothing is padded."
            )

    def unpadded(self, variable):
        """`variable` without its sharding padding rows (itself when it has none)."""
        return row_padding.unpadded(variable)

    def get_weights(self):
        return [row_padding.unpadded_numpy(v) for v in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) == len(self.weights):
            weights = [row_padding.padded_numpy(v, w) for v, w in zip(self.weights, weights)]
        super().set_weights(weights)

    def save_own_variables(self, store):
        entries = {}
        super().save_own_variables(entries)
        for key, value in entries.items():
            store[key] = row_padding.unpadded_numpy(value) if row_padding.padding_of(value) else value

    def load_own_variables(self, store):
        entries = {}
        super().save_own_variables(entries)
        padded = {
            key: row_padding.padded_numpy(entries[key], store[key])
            for key in store.keys()
            if key in entries and row_padding.padding_of(entries[key]) is not None
        }
        if padded:
            store = {key: padded.get(key, store[key]) for key in store.keys()}
        super().load_own_variables(store)

    def enable_lora(self, *args, **kwargs):
        self._refuse_padded("LoRA")
        return super().enable_lora(*args, **kwargs)

    def quantize(self, *args, **kwargs):
        self._refuse_padded("Quantization")
        return super().quantize(*args, **kwargs)
