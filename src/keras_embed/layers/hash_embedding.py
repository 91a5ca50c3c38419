import keras
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_choice
from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.hashing import hash_ids

_COMBINERS = ("sum", "concat")


@keras.saving.register_keras_serializable(package="keras_embed")
class HashEmbedding(SublayerQuantizationMixin, keras.layers.Layer):
    """An embedding of any 64-bit id through a few hashed rows of one shared table.

    Hash embeddings (Svenstrup et al., 2017) need no vocabulary: raw user ids,
    feature crosses or hashed strings (`keras_embed.preprocessing.hash_strings`)
    are hashed in the graph by `num_hashes` independent integer hash functions
    into a table `E` of `num_buckets` rows. With `importance_weights=True`
    each id also hashes into a second table `P` of `num_importance_buckets`
    rows of `num_hashes` trainable weights, and its vector is

        e(id) = sum_i P[g(id), i] * E[h_i(id)]        (combiner="sum")
        e(id) = concat_i P[g(id), i] * E[h_i(id)]     (combiner="concat")

    Two ids collide only when they share every bucket and the importance row,
    so far fewer rows than ids suffice. Without importance weights all
    weights are 1.

    The hash functions are `keras_embed.ops.hashing.hash_ids`: a
    MurmurHash3-style `mix32` of the id's two 32-bit words, computed with
    int32 16-bit limbs so the buckets are the same numbers on JAX, PyTorch
    and TensorFlow on every platform (see that module for the exact formula).
    `h_i` is hash `i` modulo `num_buckets` and `g` is hash `num_hashes`
    modulo `num_importance_buckets`.

    How 64-bit ids arrive: as an int64 tensor where the backend has int64
    (TensorFlow, PyTorch, JAX with `jax_enable_x64`), or as int32 ids
    (sign-extended, so an id below 2**31 hashes the same in either dtype), or,
    with `id_pairs=True`, as int32 pairs `(high 32 bits, low 32 bits)` on a
    last axis of size 2 (`keras_embed.preprocessing.split_ids` makes them) -
    the way to pass ids above 2**31 to JAX with x64 off, which turns int64
    arrays into int32 (known ids it would truncate raise a `ValueError`). Float ids (what `keras.Sequential`
    without an `Input` feeds) are cast to int32 and must be whole numbers (float32 holds
    every integer only up to 2**24); float16 and bfloat16 ids (what it feeds under a
    mixed policy) are refused, since they cannot hold ids above 256 exactly.

    Args:
        num_buckets: int. Rows of the shared table `E`.
        output_dim: int. Size of each row.
        num_hashes: int. Hash functions (rows summed) per id. Defaults to 2.
        importance_weights: bool. Whether each id weighs its rows with its own
            hashed trainable weights. Defaults to `True`.
        num_importance_buckets: int. Rows of the importance table `P`.
            Defaults to `num_buckets`.
        seed: int in `[0, 2**32)`. Selects the hash functions. Defaults to 0.
        combiner: `"sum"` (output `(..., output_dim)`) or `"concat"` (output
            `(..., num_hashes * output_dim)`). Defaults to `"sum"`.
        id_pairs: bool. Whether ids arrive as `(high, low)` int32 pairs on a
            last axis of size 2. Defaults to `False`.
        mask_zero: bool. Whether id 0 is padding (the output carries a mask
            `False` there). Defaults to `False`.
        embeddings_initializer: initializer of `E`. Defaults to `"uniform"`.
        importance_initializer: initializer of `P`. Defaults to `"ones"`, so
            training starts from the plain sum of the rows.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: integer ids of shape `(...)`, or `(..., 2)` int32 pairs
            with `id_pairs=True`.

    Input shape:
        `(...)`, or `(..., 2)` with `id_pairs=True`.

    Output shape:
        `(..., output_dim)`, or `(..., num_hashes * output_dim)` with
        `combiner="concat"`.

    Returns:
        The embeddings in the compute dtype.

    `model.quantize("int8")` (or `"int4"`, or `layer.quantize(...)`)
    quantizes `E`, which is a `keras.layers.Embedding` sublayer, and a
    `.keras` file keeps it quantized; `P` stays in float.

    Example:

    >>> import numpy as np
    >>> layer = HashEmbedding(num_buckets=1000, output_dim=8)
    >>> user_ids = np.array([[3, 2_000_000_000, -7]])
    >>> tuple(layer(user_ids).shape)
    (1, 3, 8)
    >>> tuple(layer.bucket_ids(user_ids).shape)  # the rows of E each id reads
    (1, 3, 2)

    Ids beyond int32 on any backend, JAX included, as int32 pairs:

    >>> from keras_embed.preprocessing import hash_strings, split_ids
    >>> ids = hash_strings(["user:alice", "user:bob"])  # int64 in [-2**63, 2**63)
    >>> wide = HashEmbedding(num_buckets=1000, output_dim=8, id_pairs=True)
    >>> tuple(wide(split_ids(ids)).shape)
    (2, 8)

    References:
        - [Svenstrup et al., 2017](https://arxiv.org/abs/1709.03933)
    """

    def __init__(
        self,
        num_buckets,
        output_dim,
        num_hashes=2,
        importance_weights=True,
        num_importance_buckets=None,
        seed=0,
        combiner="sum",
        id_pairs=False,
        mask_zero=False,
        embeddings_initializer="uniform",
        importance_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_buckets = check_positive_int("num_buckets", num_buckets)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.num_hashes = check_positive_int("num_hashes", num_hashes)
        self.num_importance_buckets = check_positive_int(
            "num_importance_buckets", num_importance_buckets, allow_none=True
        )
        check_bool("importance_weights", importance_weights)
        check_bool("id_pairs", id_pairs)
        check_bool("mask_zero", mask_zero)
        check_integer("seed", seed, minimum=0, maximum=2**32 - 1, expected="an integer in [0, 2**32)")
        check_choice("combiner", combiner, _COMBINERS)
        self.importance_weights = importance_weights
        self.seed = seed
        self.combiner = combiner
        self.id_pairs = id_pairs
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        # Ids reach `call` as given: keras would cast numpy ids to the float compute dtype.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.importance_initializer = keras.initializers.get(importance_initializer)
        self.buckets = keras.layers.Embedding(
            self.num_buckets,
            self.output_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="buckets",
        )

    @property
    def importance_rows(self):
        """Rows of the importance table `P`."""
        return self.num_importance_buckets or self.num_buckets

    def build(self, input_shape=None):
        self.restore_sublayer_quantization()
        self.buckets.build()
        if self.importance_weights:
            self.importance = self.add_weight(
                name="importance",
                shape=(self.importance_rows, self.num_hashes),
                initializer=self.importance_initializer,
                trainable=True,
            )
        self.built = True

    def _ids(self, inputs):
        ids = integer_ids("inputs", inputs)
        if self.id_pairs:
            if len(ids.shape) == 0 or ids.shape[-1] != 2:
                raise ValueError(
                    "With `id_pairs=True` the inputs must have a last axis of size 2 (the "
                    f"high and low 32 bits of each id). Received: inputs of shape {tuple(ids.shape)}."
                )
            ids = ops.cast(ids, "int32")
        return ids

    def bucket_ids(self, inputs):
        """The rows of `E` each id reads: int32 of shape `(..., num_hashes)`."""
        hashes = hash_ids(self._ids(inputs), self.num_hashes, self.seed, self.id_pairs)
        return ops.mod(hashes, self.num_buckets)

    def call(self, inputs):
        ids = self._ids(inputs)
        if 0 in tuple(ids.shape):
            # An empty batch has empty embeddings; TensorFlow's hashing ops refuse zero-size ids.
            return ops.zeros(self.compute_output_shape(tuple(ids.shape)), self.compute_dtype)
        hashes = hash_ids(ids, self.num_hashes + 1, self.seed, self.id_pairs)
        # (..., num_hashes) rows of E -> (..., num_hashes, output_dim)
        rows = self.buckets(ops.mod(hashes[..., : self.num_hashes], self.num_buckets))
        rows = ops.cast(rows, self.compute_dtype)
        if self.importance_weights:
            importance_ids = ops.mod(hashes[..., self.num_hashes], self.importance_rows)
            # (..., num_hashes, 1): the id's own weight for each of its rows.
            weights = ops.take(ops.cast(self.importance, self.compute_dtype), importance_ids, axis=0)
            rows = ops.multiply(rows, ops.expand_dims(weights, -1))
        if self.combiner == "sum":
            return ops.sum(rows, axis=-2)
        return ops.reshape(rows, ops.shape(rows)[:-2] + (self.num_hashes * self.output_dim,))

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        ids = self._ids(inputs)
        if self.id_pairs:
            return ops.any(ops.not_equal(ids, 0), axis=-1)
        return ops.not_equal(ids, 0)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) if self.id_pairs else tuple(input_shape)
        width = self.output_dim * (self.num_hashes if self.combiner == "concat" else 1)
        return shape + (width,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "output_dim": self.output_dim,
                "num_hashes": self.num_hashes,
                "importance_weights": self.importance_weights,
                "num_importance_buckets": self.num_importance_buckets,
                "seed": self.seed,
                "combiner": self.combiner,
                "id_pairs": self.id_pairs,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "importance_initializer": keras.initializers.serialize(self.importance_initializer),
            }
        )
        return config
