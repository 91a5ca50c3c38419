"""Entity embeddings for tables: one embedding table per categorical column (Guo & Berkhahn, 2016)."""

import math

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_choice
from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_string_list
from keras_embed._validation import check_unique
from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.layers.embedding import Embedding
from keras_embed.ops.hashing import hash_buckets
from keras_embed.preprocessing.hash_strings import hash_strings
from keras_embed.preprocessing.hash_strings import split_ids

SIZE_RULES = ("fourth_root", "sqrt", "fastai")
_NUMERIC_EPSILON = 1e-12  # Keeps a constant numeric column from dividing by zero.


def embedding_size(rows, rule="fastai"):
    """Embedding width for a table of `rows` rows (vocabulary plus OOV buckets).

    - `"fourth_root"`: `max(1, round(rows ** 0.25))`, the rule of thumb of
      Google's "Introducing TensorFlow Feature Columns" (Google Developers
      Blog, 2017): "embedding_dimensions = number_of_categories**0.25".
    - `"sqrt"`: `max(1, round(rows ** 0.5))`.
    - `"fastai"`: `min(600, round(1.6 * rows ** 0.56))`, fastai's
      `emb_sz_rule` (`fastai.tabular.model`).

    Args:
        rows: positive int. Number of rows of the table.
        rule: one of `"fourth_root"`, `"sqrt"`, `"fastai"`.

    Returns:
        A positive int.

    Example:

    >>> embedding_size(10_000, "fastai"), embedding_size(10_000, "fourth_root")
    (278, 10)
    """
    rows = check_positive_int("rows", rows)
    check_choice("rule", rule, SIZE_RULES)
    if rule == "fourth_root":
        return max(1, round(rows**0.25))
    if rule == "sqrt":
        return max(1, round(rows**0.5))
    return max(1, min(600, round(1.6 * rows**0.56)))


def _column_kind(name, values):
    """`"string"` or `"int"` for a raw column, else a `ValueError` naming the column."""
    kind = values.dtype.kind
    if kind in "iu":
        return "int"
    if kind in "US":
        return "string"
    if kind == "O":
        if all(isinstance(value, (str, bytes)) for value in values.reshape(-1)):
            return "string"
        if all(is_integer(value) for value in values.reshape(-1)):
            return "int"
    raise ValueError(
        f"Column `{name}` must hold strings or integers. Received: an array of dtype "
        f"{values.dtype} (first value {describe(values.reshape(-1)[0]) if values.size else 'none'})."
    )


def _as_key(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return str(value) if isinstance(value, str) else int(value)


@keras.saving.register_keras_serializable(package="keras_embed")
class CategoricalEmbeddings(SublayerQuantizationMixin, keras.layers.Layer):
    """Entity embeddings of the categorical columns of a table, concatenated with its numeric columns.

    Each categorical column gets a vocabulary learned by `adapt(data)` and its
    own `keras_embed.layers.Embedding` table of `len(vocabulary) +
    num_oov_buckets` rows (Guo & Berkhahn, "Entity Embeddings of Categorical
    Variables", 2016). The output concatenates, in a fixed order, the
    embedding of every categorical column (in `categorical_columns` order),
    then the numeric columns (in `numeric_columns` order), passed through as
    float or standardised with the mean and standard deviation seen by
    `adapt`.

    Vocabulary. Values seen at least `min_frequency` times, most frequent
    first; ties go to the smaller value (string order for strings, numeric
    order for integers), so the vocabulary does not depend on row order. With
    `max_tokens`, only the first `max_tokens` are kept (OOV buckets do not
    count, unlike keras' `StringLookup`). Value `vocabulary[i]` gets id `i`.
    Any other value gets id `len(vocabulary) + b`, where the bucket `b` is
    `hash_buckets(split_ids(h), num_oov_buckets, 1, seed, id_pairs=True)` of
    `keras_embed.ops.hashing`, with `h` the value itself for integer columns
    and `keras_embed.preprocessing.hash_strings(value, seed)` for strings: the
    same bucket on every run, machine and backend.

    Strings and backends. Strings cannot enter a JAX or PyTorch graph, so
    values are mapped to ids on the host, with numpy: `preprocess(data)`
    returns the int32 ids (and float32 numerics) of a dict or DataFrame, to
    use in `fit` on any backend or inside a `tf.data`/grain pipeline. `call`
    does the same itself when a categorical column arrives as a numpy array
    of strings or as a list, so `layer(raw_dict)` works eagerly; a column
    that arrives as a tensor is taken as ids from `preprocess` (integer raw
    values must go through `preprocess`, since they are not ids).

    Sequential. The input is a dict of columns, so the layer cannot open a
    `keras.Sequential` model (which takes one tensor); use it in a
    functional model with one `keras.Input` per column, or in a subclassed
    model, and put the rest of the network in a `Sequential` after it.

    Args:
        categorical_columns: list of column names (strings), at least one.
        numeric_columns: list of column names passed through as floats.
            Defaults to none.
        embedding_dims: `"fastai"` (default), `"fourth_root"`, `"sqrt"` (see
            `embedding_size`), one positive int for every column, or a dict
            column -> int or rule.
        num_oov_buckets: positive int. Rows shared by out-of-vocabulary values.
        max_tokens: positive int or None. Largest vocabulary per column.
        min_frequency: positive int. Fewest occurrences a value needs to get
            its own row.
        normalize_numeric: bool. Whether to standardise the numeric columns
            with the statistics seen by `adapt`.
        seed: int in `[0, 2**32)`. Seed of the OOV hashing.
        embeddings_initializer: initializer of every table.
        vocabularies: dict column -> list of values, as `adapt` learns them
            (restored from `get_config`; usually left None).
        numeric_mean, numeric_std: lists of floats per numeric column, as
            `adapt` learns them (restored from `get_config`).

    Call arguments:
        inputs: dict column -> values of shape `(batch,)` or `(batch, 1)`:
            ids from `preprocess` (or raw strings, eagerly) for categorical
            columns, numbers for numeric columns. Every column of the layer,
            and no other, must be present.

    Input shape:
        A dict of `(batch,)` or `(batch, 1)` tensors, one per column.

    Output shape:
        `(batch, output_dim)`, where `output_dim` is the sum of the embedding
        widths plus the number of numeric columns.

    Example:

    >>> import numpy as np
    >>> data = {"city": np.array(["Paris", "Oslo", "Paris", "Rome"]),
    ...         "age": np.array([31.0, 45.0, 27.0, 60.0])}
    >>> layer = CategoricalEmbeddings(["city"], numeric_columns=["age"], embedding_dims=3)
    >>> layer.adapt(data)
    >>> layer.vocabularies["city"]
    ['Paris', 'Oslo', 'Rome']
    >>> tuple(layer(layer.preprocess(data)).shape)
    (4, 4)
    """

    def __init__(
        self,
        categorical_columns,
        numeric_columns=(),
        embedding_dims="fastai",
        num_oov_buckets=1,
        max_tokens=None,
        min_frequency=1,
        normalize_numeric=False,
        seed=0,
        embeddings_initializer="uniform",
        vocabularies=None,
        numeric_mean=None,
        numeric_std=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.categorical_columns = self._check_names("categorical_columns", categorical_columns)
        self.numeric_columns = self._check_names("numeric_columns", numeric_columns, minimum=0)
        overlap = set(self.categorical_columns) & set(self.numeric_columns)
        if overlap:
            raise ValueError(
                "A column cannot be both categorical and numeric. Received: "
                f"{sorted(overlap)} in both categorical_columns and numeric_columns."
            )
        self.embedding_dims = self._check_dims(embedding_dims)
        self.num_oov_buckets = check_positive_int("num_oov_buckets", num_oov_buckets)
        self.max_tokens = check_positive_int("max_tokens", max_tokens, allow_none=True)
        self.min_frequency = check_positive_int("min_frequency", min_frequency)
        self.normalize_numeric = check_bool("normalize_numeric", normalize_numeric)
        self.seed = check_integer("seed", seed, minimum=0, maximum=2**32 - 1)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.vocabularies = None
        self.numeric_mean = None if numeric_mean is None else [float(v) for v in numeric_mean]
        self.numeric_std = None if numeric_std is None else [float(v) for v in numeric_std]
        self.tables = {}
        if vocabularies is not None:
            self._set_vocabularies(vocabularies)

    @staticmethod
    def _check_names(name, columns, minimum=1):
        if not isinstance(columns, (list, tuple)):
            raise ValueError(f"`{name}` must be a list of column names. Received: {name}={describe(columns)}.")
        columns = check_string_list(name, columns, minimum, expected="a list of column names")
        check_unique(name, columns)
        return columns

    def _check_dims(self, embedding_dims):
        def check_one(column, value):
            if isinstance(value, str):
                return check_choice(f"embedding_dims[{column!r}]", value, SIZE_RULES)
            return check_positive_int(f"embedding_dims[{column!r}]", value)

        if isinstance(embedding_dims, dict):
            unknown = sorted(set(embedding_dims) - set(self.categorical_columns))
            if unknown:
                raise ValueError(
                    f"`embedding_dims` names unknown columns {unknown}; the categorical columns "
                    f"are {self.categorical_columns}."
                )
            return {c: check_one(c, embedding_dims.get(c, "fastai")) for c in self.categorical_columns}
        if isinstance(embedding_dims, str):
            check_choice("embedding_dims", embedding_dims, SIZE_RULES)
        else:
            check_positive_int("embedding_dims", embedding_dims)
        return {c: embedding_dims for c in self.categorical_columns}

    # ----------------------------------------------------------------- adapt

    def _columns_of(self, data, columns, what="data"):
        if not hasattr(data, "keys") or not hasattr(data, "__getitem__"):
            raise ValueError(
                f"`{what}` must be a dict of columns or a pandas DataFrame. Received: {describe(data)}."
            )
        present = set(data.keys())
        missing = [c for c in columns if c not in present]
        if missing:
            raise ValueError(
                f"`{what}` lacks the columns {missing}. Expected every column of "
                f"{columns}; received {sorted(map(str, present))}."
            )
        arrays = {}
        for column in columns:
            values = data[column]
            values = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
            arrays[column] = values.reshape(-1)
        return arrays

    def adapt(self, data):
        """Learns each column's vocabulary (and the numeric statistics) from `data`.

        Args:
            data: dict column -> 1-D values, or a pandas DataFrame, holding
                every column of the layer (other keys are ignored).
        """
        if self.built:
            raise ValueError("`adapt` must be called before the layer is built or called.")
        arrays = self._columns_of(data, self.categorical_columns + self.numeric_columns)
        vocabularies = {}
        for column in self.categorical_columns:
            values = arrays[column]
            kind = _column_kind(column, values)
            if kind == "string":
                values = np.array([_as_key(v) for v in values], dtype=object)
            else:
                values = values.astype(np.int64)
            unique, counts = np.unique(values, return_counts=True)
            order = np.argsort(-counts, kind="stable")  # `unique` is sorted: ties keep value order.
            kept = [_as_key(unique[i]) for i in order if counts[i] >= self.min_frequency]
            if self.max_tokens is not None:
                kept = kept[: self.max_tokens]
            if not kept:
                raise ValueError(
                    f"Column `{column}` has an empty vocabulary: no value occurs at least "
                    f"min_frequency={self.min_frequency} times in {values.size} rows."
                )
            vocabularies[column] = kept
        if self.numeric_columns:
            numeric = np.stack([arrays[c].astype(np.float64) for c in self.numeric_columns], axis=1)
            self.numeric_mean = numeric.mean(axis=0).tolist()
            self.numeric_std = numeric.std(axis=0).tolist()
        self._set_vocabularies(vocabularies)

    def _set_vocabularies(self, vocabularies):
        missing = [c for c in self.categorical_columns if c not in vocabularies]
        if missing:
            raise ValueError(f"`vocabularies` lacks the columns {missing}.")
        self.vocabularies = {}
        self._kinds = {}
        self._index = {}
        for column in self.categorical_columns:
            vocabulary = [_as_key(v) for v in vocabularies[column]]
            if not vocabulary:
                raise ValueError(f"Column `{column}` has an empty vocabulary.")
            self.vocabularies[column] = vocabulary
            self._kinds[column] = "string" if isinstance(vocabulary[0], str) else "int"
            self._index[column] = {value: i for i, value in enumerate(vocabulary)}
        self.output_dims = {}
        for column in self.categorical_columns:
            rows = len(self.vocabularies[column]) + self.num_oov_buckets
            dim = self.embedding_dims[column]
            self.output_dims[column] = embedding_size(rows, dim) if isinstance(dim, str) else dim
            self.tables[column] = Embedding(
                rows,
                self.output_dims[column],
                embeddings_initializer=self.embeddings_initializer,
                dtype=self.dtype_policy,
                name=f"{column}_embedding",
            )

    def _check_adapted(self):
        if self.vocabularies is None:
            raise ValueError(
                "`CategoricalEmbeddings` has no vocabularies yet: call `adapt(data)` before "
                "`preprocess`, calling the layer or building a model with it."
            )
        if self.normalize_numeric and self.numeric_columns and self.numeric_mean is None:
            raise ValueError("`normalize_numeric=True` needs the statistics of `adapt(data)`.")

    # ------------------------------------------------------------ preprocess

    def oov_buckets(self, column, values):
        """OOV bucket in `[0, num_oov_buckets)` of each raw value of `column` (vocabulary or not)."""
        values = np.asarray(values).reshape(-1)
        if self._kinds[column] == "string":
            ids = hash_strings(np.array([_as_key(v) for v in values], dtype=object), seed=self.seed)
        else:
            ids = values.astype(np.int64)
        if ids.size == 0:
            return np.zeros((0,), np.int32)
        # Padding to a power of two bounds how many shapes eager JAX compiles the hash for.
        padded = np.zeros(1 << (ids.size - 1).bit_length(), np.int64)
        padded[: ids.size] = ids
        buckets = hash_buckets(split_ids(padded), self.num_oov_buckets, 1, self.seed, id_pairs=True)
        return keras.ops.convert_to_numpy(buckets)[: ids.size, 0].astype(np.int32)

    def _column_ids(self, column, values):
        values = np.asarray(values).reshape(-1)
        kind = _column_kind(column, values)
        if kind != self._kinds[column]:
            raise ValueError(
                f"Column `{column}` was adapted on {self._kinds[column]} values but received "
                f"{kind} values (dtype {values.dtype})."
            )
        index = self._index[column]
        try:  # Look each distinct value up once: columns repeat few values over many rows.
            distinct, positions = np.unique(values, return_inverse=True)
        except TypeError:  # An object column mixing str and bytes does not sort.
            distinct, positions = values, np.arange(values.size)
        distinct_ids = np.fromiter((index.get(_as_key(v), -1) for v in distinct), np.int32, distinct.size)
        ids = distinct_ids[positions.reshape(-1)]
        unknown = ids < 0
        if unknown.any():
            vocabulary_size = len(self.vocabularies[column])
            ids[unknown] = vocabulary_size + self.oov_buckets(column, values[unknown])
        return ids

    def _check_keys(self, keys, what):
        expected = self.categorical_columns + self.numeric_columns
        unknown = sorted(set(map(str, keys)) - set(expected))
        if unknown:
            raise ValueError(f"`{what}` has unknown columns {unknown}. Expected the columns {expected}.")

    def preprocess(self, data):
        """Raw columns -> int32 ids per categorical column and float32 numeric columns.

        Runs on the host (numpy), so it fits any backend's `fit` and any
        `tf.data`/grain pipeline; the result is what `call` takes.

        Args:
            data: dict column -> 1-D values, or a pandas DataFrame. Keys
                besides the layer's columns are ignored.

        Returns:
            dict column -> numpy array of shape `(rows,)`.
        """
        self._check_adapted()
        arrays = self._columns_of(data, self.categorical_columns + self.numeric_columns)
        out = {c: self._column_ids(c, arrays[c]) for c in self.categorical_columns}
        for column in self.numeric_columns:
            values = arrays[column]
            if values.dtype.kind not in "iufb":
                raise ValueError(
                    f"Numeric column `{column}` must hold numbers. Received: an array of dtype {values.dtype}."
                )
            out[column] = values.astype(np.float32)
        return out

    # ----------------------------------------------------------------- call

    def build(self, input_shape=None):
        self._check_adapted()
        self.restore_sublayer_quantization()
        for table in self.tables.values():
            if not table.built:
                table.build(None)
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        # Keras turns numpy inputs into tensors before `call`; strings must become ids first.
        if isinstance(inputs, dict):
            inputs = {
                column: self._column_ids(column, values) if self._is_raw(column, values) else values
                for column, values in inputs.items()
            }
        return super().__call__(inputs, *args, **kwargs)

    def _is_raw(self, column, values):
        if column not in self.categorical_columns:
            return False
        if isinstance(values, (list, tuple)):
            self._check_adapted()
            return True
        if isinstance(values, np.ndarray) and values.dtype.kind in "OUS":
            self._check_adapted()
            return True
        return False

    def call(self, inputs):
        if not isinstance(inputs, dict):
            raise ValueError(
                "`inputs` must be a dict of columns (use `preprocess(data)` on a DataFrame). "
                f"Received: {describe(inputs)}."
            )
        self._check_adapted()
        self._check_keys(inputs.keys(), "inputs")
        missing = [c for c in self.categorical_columns + self.numeric_columns if c not in inputs]
        if missing:
            raise ValueError(
                f"`inputs` lacks the columns {missing}. Expected every column of "
                f"{self.categorical_columns + self.numeric_columns}; received {sorted(inputs)}."
            )
        parts = []
        for column in self.categorical_columns:
            values = inputs[column]
            if "int" not in str(getattr(values, "dtype", "")):
                raise ValueError(
                    f"Categorical column `{column}` must arrive as integer ids from `preprocess` "
                    f"(or raw strings, eagerly). Received: values of dtype {getattr(values, 'dtype', None)}."
                )
            ids = ops.reshape(values, (-1,))
            parts.append(self.tables[column](ids))
        for position, column in enumerate(self.numeric_columns):
            values = ops.reshape(ops.cast(inputs[column], "float32"), (-1, 1))
            if self.normalize_numeric:
                std = max(self.numeric_std[position], _NUMERIC_EPSILON)
                values = (values - self.numeric_mean[position]) / std
            parts.append(ops.cast(values, self.compute_dtype))
        return ops.concatenate(parts, axis=-1)

    @property
    def output_dim(self):
        self._check_adapted()
        return sum(self.output_dims.values()) + len(self.numeric_columns)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            self._check_keys(input_shape.keys(), "input_shape")
            batch = tuple(input_shape[self.categorical_columns[0]])[:1] or (None,)
        else:
            batch = (None,)
        return batch + (self.output_dim,)

    # --------------------------------------------------------------- export

    def export_tables(self):
        """The learned tables: dict column -> `(vocabulary, table)`.

        `table` is a float32 numpy array of `len(vocabulary) + num_oov_buckets`
        rows: row `i` embeds `vocabulary[i]`, the last `num_oov_buckets` rows
        are the OOV buckets.
        """
        self._check_adapted()
        if not self.built:
            self.build()
        return {
            column: (
                list(self.vocabularies[column]),
                keras.ops.convert_to_numpy(ops.cast(self.tables[column].embeddings, "float32")),
            )
            for column in self.categorical_columns
        }

    def feature_matrix(self, data, include_numeric=True):
        """Raw columns -> a dense float32 matrix of embeddings, for gradient-boosted trees.

        Args:
            data: dict column -> 1-D values, or a pandas DataFrame.
            include_numeric: bool. Whether to append the numeric columns
                (raw values, not normalised: trees do not need it).

        Returns:
            `(matrix, names)`: a float32 array of shape `(rows, features)` and
            its column names, `city_0 .. city_{d-1}` per categorical column
            then the numeric column names, ready for
            `pandas.DataFrame(matrix, columns=names)`.
        """
        check_bool("include_numeric", include_numeric)
        ids = self.preprocess(data)
        tables = self.export_tables()
        blocks, names = [], []
        for column in self.categorical_columns:
            table = tables[column][1]
            blocks.append(table[ids[column]])
            names.extend(f"{column}_{i}" for i in range(table.shape[1]))
        if include_numeric:
            for column in self.numeric_columns:
                blocks.append(ids[column].reshape(-1, 1))
                names.append(column)
        return np.concatenate(blocks, axis=1).astype(np.float32), names

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "categorical_columns": list(self.categorical_columns),
                "numeric_columns": list(self.numeric_columns),
                "embedding_dims": dict(self.embedding_dims),
                "num_oov_buckets": self.num_oov_buckets,
                "max_tokens": self.max_tokens,
                "min_frequency": self.min_frequency,
                "normalize_numeric": self.normalize_numeric,
                "seed": self.seed,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "vocabularies": None
                if self.vocabularies is None
                else {c: list(v) for c, v in self.vocabularies.items()},
                "numeric_mean": self.numeric_mean,
                "numeric_std": self.numeric_std,
            }
        )
        return config
