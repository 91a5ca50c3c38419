"""`ReversibleEmbedding`: a token embedding that also projects back to the vocabulary.

Over 400 lines because about 200 of them are documentation: the class
docstring (~100 lines), `reverse_loss` and `from_vectors` (~50 each) are the
user guide, with runnable examples. Quantisation lives in the private
`_reversible_quantization` mixin and the fused loss in
`keras_embed.ops.cross_entropy`.
"""

import copy

import keras
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_float_dtype
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_soft_cap
from keras_embed.layers._reversible_quantization import ReversibleQuantizationMixin
from keras_embed.layers.embedding import Embedding
from keras_embed.ops._backend import attach_mask
from keras_embed.ops._backend import stored_value
from keras_embed.ops.cross_entropy import reverse_cross_entropy
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import table_rows


def reverse_compute_dtype(compute_dtype, reverse_dtype=None):
    """The dtype of a reverse projection: `reverse_dtype`, else at least float32."""
    if reverse_dtype is not None:
        return reverse_dtype
    if compute_dtype in ("float16", "bfloat16"):
        return "float32"
    return compute_dtype


def cast_if_needed(x, dtype):
    """`ops.cast` that adds no op to the graph when `x` already has `dtype`."""
    if keras.backend.standardize_dtype(x.dtype) == dtype:
        return x
    return ops.cast(x, dtype)


@keras.saving.register_keras_serializable(package="keras_embed")
class ReversibleEmbedding(ReversibleQuantizationMixin, Embedding):
    """A token embedding that can also project hidden states back to the vocabulary.

    Forward (`reverse=False`) it is a `keras.layers.Embedding`: integer ids of
    shape `(...)` become vectors of shape `(..., output_dim)`. In reverse
    (`reverse=True`) it maps hidden states of shape `(..., output_dim)` to
    vocabulary logits of shape `(..., input_dim)` with the transposed
    embedding table (`tie_weights=True`, Press and Wolf, 2016) or with a
    separate trainable `(output_dim, input_dim)` matrix. There is no bias.

    Arguments, defaults and float32 numerics match `keras_hub.layers.
    ReversibleEmbedding` (keras-hub 0.32), with three deliberate differences:

    - Ids outside `[0, input_dim)` raise a `ValueError` whenever their values
      are known (eager calls, numpy inputs). Inside compiled functions, where
      they are not, such ids embed to an all-zero vector. Keras returns a NaN
      row on JAX for ids `>= input_dim` and silently wraps negative ids.
    - Float ids are cast to int32 when their values are unknown (a
      `keras.Sequential` without an `Input` builds on float32), as keras
      does; concrete ones must be whole numbers, else a `ValueError` names
      the first that is not, where keras would truncate it.
    - Under a mixed policy such as `"mixed_bfloat16"`, the reverse projection
      is computed and returned in float32 unless `reverse_dtype` says
      otherwise, since logits feed a softmax whose statistics need float32.
      keras-hub computes it in the compute dtype (bfloat16).

    Args:
        input_dim: int. Size of the vocabulary (largest id + 1).
        output_dim: int. Size of each embedding vector.
        tie_weights: bool. Whether the reverse projection uses the transposed
            embedding table (`True`) or a separate trainable matrix of shape
            `(output_dim, input_dim)` (`False`). Defaults to `True`.
        embeddings_initializer: Initializer for the table (and for the
            untied reverse matrix). Defaults to `"uniform"`.
        embeddings_regularizer: Regularizer for the table.
        embeddings_constraint: Constraint for the table.
        mask_zero: bool. Whether id 0 is padding; the forward output then
            carries a mask that is `False` where the id is 0. The reverse
            output carries no mask. Defaults to `False`.
        reverse_dtype: dtype of the reverse projection; both operands are cast
            to it. Defaults to the compute dtype, but at least float32.
        logit_soft_cap: float or `None`. If set, reverse logits become
            `tanh(logits / logit_soft_cap) * logit_soft_cap` (Gemma 2).
        padding_idx: int or `None`. As in `keras_embed.layers.Embedding`: that
            row starts at zero, embeds to zeros and gets no gradient from the
            forward lookup. A tied reverse projection reads the stored row,
            so its logit is 0 while the row stays zero.
        max_norm: positive float or `None`. As in `Embedding`: looked-up rows
            are renormalised (and written back); the reverse projection reads
            the stored table as it is, as a tied torch model does.
        norm_type: positive float. The p of the norm `max_norm` bounds.
            Defaults to 2.
        scale_grad_by_freq: bool. As in `Embedding`, for the forward lookup.
            Defaults to `False`.
        embeddings_scale: `None`, `"sqrt"` or a positive number multiplying
            the forward output only (e.g. Gemma's `sqrt(output_dim)`); the
            reverse projection uses the unscaled table. Defaults to `None`.
        sparse: bool. Row-sparse training of the table, as in `Embedding`:
            forward lookups update only the rows they read. Needs
            `tie_weights=False`: a tied reverse projection reads, and so
            trains, every row at every step, which would make each step dense
            anyway; `True` with tied weights raises. The untied reverse
            matrix trains densely. Defaults to `False`.
        sparse_capacity: int or `None`. As in `Embedding`.
        **kwargs: Other `keras.layers.Embedding` arguments (`name`, `dtype`,
            `quantization_config`, ...). A quantized dtype such as
            `"int8_from_float32"` builds the layer quantised; see `quantize`.

    Call arguments:
        inputs: integer ids of shape `(...)` when `reverse=False`; hidden
            states of shape `(..., output_dim)` when `reverse=True`.
        reverse: bool. Project to the vocabulary instead of embedding.
            Defaults to `False`.

    Input shape:
        `reverse=False`: integer ids `(...)`, e.g. `(batch, sequence)`.
        `reverse=True`: hidden states `(..., output_dim)`.

    Output shape:
        `reverse=False`: `(..., output_dim)`.
        `reverse=True`: `(..., input_dim)`.

    Returns:
        `(..., output_dim)` embeddings in the compute dtype, or
        `(..., input_dim)` logits in the reverse dtype.

    Example:

    >>> import numpy as np
    >>> embedding = ReversibleEmbedding(input_dim=100, output_dim=32)
    >>> token_ids = np.random.randint(0, 100, size=(2, 8))
    >>> hidden_states = embedding(token_ids)
    >>> tuple(hidden_states.shape)
    (2, 8, 32)
    >>> logits = embedding(hidden_states, reverse=True)
    >>> tuple(logits.shape)
    (2, 8, 100)

    References:
        - [Press and Wolf, 2016](https://arxiv.org/abs/1608.05859)
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    # The untied kernel is `(output_dim, input_dim)`: its vocabulary is axis 1.
    row_sharded_variables = {"embeddings": ("rows", None), "reverse_embeddings": (None, "rows")}

    # `from_vectors(trainable="missing_only")` builds this class; the semi-frozen subclass
    # sets it when its module loads (`keras_embed.layers` loads it), since it imports this one.
    missing_only_class = None

    def __init__(
        self,
        input_dim,
        output_dim,
        tie_weights=True,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        reverse_dtype=None,
        logit_soft_cap=None,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        embeddings_scale=None,
        **kwargs,
    ):
        check_positive_int("input_dim", input_dim)
        check_positive_int("output_dim", output_dim)
        check_bool("tie_weights", tie_weights)
        reverse_dtype = check_float_dtype("reverse_dtype", reverse_dtype)
        check_soft_cap(logit_soft_cap)
        if kwargs.get("sparse") is True and tie_weights:
            raise ValueError(
                "`sparse=True` needs `tie_weights=False`: the tied reverse projection "
                "reads every row of the table, so every step would train every row. "
                "Use tie_weights=False (a separate dense reverse matrix) or sparse=False. "
                "Received: sparse=True, tie_weights=True."
            )
        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            embeddings_scale=embeddings_scale,
            **kwargs,
        )
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape=None):
        # `Embedding.build` creates the table, or its quantised variables
        # (through `quantized_build`) under a policy such as "int8_from_float32".
        super().build(input_shape)
        if not self.tie_weights and self.quantization_mode is None:
            self.reverse_embeddings = self.add_weight(
                shape=(self.output_dim, self.input_dim),
                initializer=self.embeddings_initializer,
                name="reverse_embeddings",
                trainable=True,
            )

    @property
    def reverse_kernel(self):
        """The `(output_dim, input_dim)` matrix the reverse projection multiplies by."""
        if self.quantization_mode is not None:
            kernel = self._dequantized_reverse_kernel(self.compute_dtype)
            if self.lora_enabled and self.tie_weights:
                update = ops.matmul(self.lora_embeddings_a, self.lora_embeddings_b)
                kernel = ops.add(kernel, ops.transpose((self.lora_alpha / self.lora_rank) * update))
            return kernel
        # The float32 table, not keras' bfloat16 autocast of it, under mixed policies.
        if self.tie_weights:
            return ops.transpose(stored_value(lambda: self.unpadded(self.embeddings)))
        return stored_value(lambda: self.unpadded(self.reverse_embeddings))

    def call_argument_kinds(self, arguments):
        # A reverse call takes hidden states, not ids.
        if arguments.get("reverse", False) is not False:
            return {"inputs": "numbers"}
        return self.checked_call_arguments

    def call(self, inputs, reverse=False):
        if check_bool("reverse", reverse):
            return self._project_to_vocabulary(inputs)
        inputs = integer_ids("inputs", inputs)
        outputs = self._scale_and_cast(self.lookup(inputs))
        if self.mask_zero:
            # Set here rather than in `compute_mask`, which cannot tell float ids
            # (a `Sequential` without `Input`) from reverse-call hidden states.
            attach_mask(outputs, ops.not_equal(inputs, 0))
        return outputs

    def quantized_call(self, *args, **kwargs):
        # One `call` serves the float and the quantised tables.
        return self.call(*args, **kwargs)

    def _gather(self, ids):
        # `Embedding.lookup` applies the table rules to these rows.
        if self.quantization_mode is None:
            return super()._gather(ids)
        what = table_rows("input_dim", self.input_dim)
        return lookup_rows(self._dequantized_rows, ids, "inputs", what, rows=self.input_dim)

    def _project_to_vocabulary(self, inputs):
        # inputs: (..., output_dim) -> logits: (..., input_dim)
        shape = tuple(inputs.shape)
        if not shape or shape[-1] not in (None, self.output_dim):
            raise ValueError(
                f"A reverse call takes hidden states of shape (..., {self.output_dim}) "
                f"(`output_dim`). Received: inputs of shape {shape}."
            )
        dtype = reverse_compute_dtype(self.compute_dtype, self.reverse_dtype)
        if self.quantization_mode is None:
            logits = ops.matmul(
                cast_if_needed(inputs, dtype), cast_if_needed(self.reverse_kernel, dtype)
            )
        else:
            inputs = cast_if_needed(inputs, dtype)
            logits = self._quantized_logits(inputs, dtype)
            if self.lora_enabled and self.tie_weights:
                logits = ops.add(logits, self._lora_logits(inputs))
        if self.logit_soft_cap is not None:
            cap = ops.cast(self.logit_soft_cap, dtype)
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits

    def reverse_loss(self, hidden, labels, **options):
        """Softmax cross-entropy of the reverse projection, without its logits.

        Equals `keras.losses.sparse_categorical_crossentropy(labels,
        self(hidden, reverse=True), from_logits=True)` averaged over the
        tokens, but runs `keras_embed.ops.reverse_cross_entropy` on the
        layer's own table (tied or untied), `reverse_dtype` and
        `logit_soft_cap`, chunk by chunk: the `(..., input_dim)` logits never
        exist, in the forward pass or in the gradient.

        Args:
            hidden: float tensor of shape `(..., output_dim)`.
            labels: integer tensor of shape `(...)` of ids in
                `[0, input_dim)` or `ignore_index`.
            **options: other keyword arguments of `reverse_cross_entropy`:
                `bias` (added before the soft cap), `chunk_size`,
                `ignore_index`, `sample_weight`, `label_smoothing`,
                `z_loss`, `reduction`.

        Returns:
            A float32 scalar, or float32 losses of shape `(...)` with
            `reduction="none"`.

        Example, training with `model.fit` (the model returns hidden states;
        `compute_loss` turns them into the loss):

        >>> import numpy as np
        >>> class TinyLanguageModel(keras.Model):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.embedding = ReversibleEmbedding(100, 16)
        ...         self.dense = keras.layers.Dense(16, activation="tanh")
        ...     def call(self, token_ids):
        ...         return self.dense(self.embedding(token_ids))
        ...     def compute_loss(self, x=None, y=None, y_pred=None,
        ...                      sample_weight=None, training=True):
        ...         loss = self.embedding.reverse_loss(
        ...             y_pred, y, sample_weight=sample_weight)
        ...         return loss + ops.sum(self.losses) if self.losses else loss
        >>> model = TinyLanguageModel()
        >>> model.compile(optimizer="adam")  # no `loss=`: compute_loss is the loss
        >>> token_ids = np.random.randint(0, 100, size=(4, 9))
        >>> history = model.fit(token_ids[:, :-1], token_ids[:, 1:], verbose=0)
        """
        taken = sorted({"transpose", "logit_soft_cap", "compute_dtype"} & set(options))
        if taken:
            raise ValueError(
                f"`reverse_loss` takes {taken} from the layer (`tie_weights`, "
                "`logit_soft_cap`, `reverse_dtype`); set them on the layer instead."
            )
        if not self.built:
            self.build()
        if self.quantization_mode is not None:
            raise ValueError(
                f"`reverse_loss` needs a float table, but layer '{self.name}' is "
                f"quantised ({self.quantization_mode}). Compute the loss from the "
                "logits `layer(hidden, reverse=True)` instead, or call "
                "`reverse_loss` before `quantize`."
            )
        table = self.embeddings if self.tie_weights else self.reverse_embeddings
        return reverse_cross_entropy(
            hidden,
            self.unpadded(table),
            labels,
            transpose=self.tie_weights,
            logit_soft_cap=self.logit_soft_cap,
            compute_dtype=reverse_compute_dtype(self.compute_dtype, self.reverse_dtype),
            **options,
        )

    @classmethod
    def from_vectors(
        cls,
        vectors,
        vocabulary=None,
        trainable=True,
        missing="matched_normal",
        case_fold=True,
        seed=None,
        **kwargs,
    ):
        """A layer of this class initialised from pre-trained vectors, and a coverage report.

        Row `i` holds the vector of token `i` of `vocabulary` (found as it is,
        else after `str.casefold` when `case_fold`). Padding rows (a
        `StringLookup`'s mask token, or row 0 with `mask_zero=True`) are
        zeros; tokens the vectors lack and a `StringLookup`'s OOV rows are
        initialised as `missing` says.

        Args:
            vectors: a `keras_embed.vectors.Vectors` (or a path, loaded with
                `keras_embed.vectors.load`).
            vocabulary: None (all words of `vectors`, in their order), a list
                of tokens (row `i` is token `i`), or a `keras.layers.StringLookup`
                (its mask row is zeros and masked, since `mask_zero` then
                defaults to True; its OOV rows are initialised like missing
                tokens).
            trainable: True (fine-tune every row), False (freeze the table) or
                `"missing_only"` (semi-freeze: only rows without a pre-trained
                vector train; the pre-trained rows and padding rows stay
                bit-identical through `fit`). `"missing_only"` returns a
                `SemiFrozenReversibleEmbedding` (or this class, if it is one).
            missing: how to initialise tokens the vectors lack: `"matched_normal"`
                (normal draws with the per-dimension mean and standard
                deviation of the pre-trained vectors), `"zeros"`, `"uniform"`
                (Keras' default) or `"subwords"` (fastText n-gram vectors;
                needs a fastText `.bin`).
            case_fold: also match tokens after `str.casefold`, counted apart
                in the coverage report.
            seed: integer seed for the missing-row initialiser.
            **kwargs: other arguments of the layer (`tie_weights`,
                `mask_zero`, `name`, `dtype`, ...). `mask_zero=True` keeps row
                0 at zeros as padding.

        Returns:
            `(layer, coverage)`: a built layer and a
            `keras_embed.vectors.Coverage` report.

        Example:

        >>> import numpy as np
        >>> from keras_embed.vectors import Vectors
        >>> vectors = Vectors(["the", "cat", "sat"], np.eye(3, 4))
        >>> layer, coverage = ReversibleEmbedding.from_vectors(
        ...     vectors, ["[PAD]", "cat", "dog"], trainable="missing_only",
        ...     mask_zero=True, seed=0)
        >>> print(coverage)
        1 of 2 tokens found (50.0%): 1 exact, 0 case-folded; 1 missing, initialised with 'matched_normal'; 1 reserved rows
        >>> type(layer).__name__, layer.trainable_row_ids.tolist()
        ('SemiFrozenReversibleEmbedding', [2])
        >>> keras.ops.convert_to_numpy(layer(np.array([1]))).tolist()
        [[0.0, 1.0, 0.0, 0.0]]
        """
        # Imported here, so that `import keras_embed.layers` loads no file readers.
        from keras_embed.vectors.alignment import align_for_embedding

        table, coverage, kwargs = align_for_embedding(
            vectors, vocabulary, trainable, missing, case_fold, seed, kwargs
        )
        layer_class = cls
        semi_frozen = ReversibleEmbedding.missing_only_class
        if trainable == "missing_only" and not issubclass(cls, semi_frozen):
            layer_class = semi_frozen
        return layer_class.from_aligned_table(table, coverage, trainable, **kwargs), coverage

    @classmethod
    def from_aligned_table(cls, table, coverage, trainable, **kwargs):
        """A built layer holding `table`; `from_vectors` without the alignment.

        Args:
            table: `(input_dim, output_dim)` array.
            coverage: the `Coverage` of `table` (which rows are pre-trained).
            trainable: True or False; the layer's `trainable`.
            **kwargs: other arguments of the layer.
        """
        if trainable == "missing_only":
            raise ValueError(
                f"`trainable='missing_only'` needs a SemiFrozenReversibleEmbedding; "
                f"{cls.__name__} trains its whole table or none of it."
            )
        layer = cls(*table.shape, **kwargs)
        layer.build()
        layer.embeddings.assign(table)
        layer.trainable = trainable
        return layer

    def compute_mask(self, inputs, mask=None):
        # Symbolic integer ids get their mask here; `call` attaches it to real
        # outputs (float ids included). Hidden states (reverse) carry none.
        if not self.mask_zero or "int" not in keras.backend.standardize_dtype(inputs.dtype):
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape, reverse=False):
        output_shape = list(input_shape)
        if reverse:
            output_shape[-1] = self.input_dim
        else:
            output_shape.append(self.output_dim)
        return tuple(output_shape)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        if reverse:
            dtype = reverse_compute_dtype(self.compute_dtype, self.reverse_dtype)
        else:
            dtype = self.compute_dtype
        return keras.KerasTensor(shape, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap,
            }
        )
        return config

    @property
    def variable_serialization_spec(self):
        spec = copy.deepcopy(super().variable_serialization_spec)
        if not self.tie_weights:
            for mode, names in spec.items():
                names.append("reverse_embeddings")
                if mode in ("int8", "int4"):
                    names.append("reverse_embeddings_scale")
                if mode == "int4":
                    names.append("reverse_embeddings_zero")  # grouped int4 only
        return spec
