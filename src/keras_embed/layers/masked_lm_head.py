import keras
from keras import ops

from keras_embed._validation import check_positive_float
from keras_embed._validation import check_positive_int
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.layers._padded_table import PaddedTableMixin
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.layers.reversible_embedding import reverse_compute_dtype
from keras_embed.ops._backend import stored_value
from keras_embed.ops.cross_entropy import reverse_cross_entropy
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import lookup_rows


def gather_positions(inputs, mask_positions):
    """Gather `inputs[b, mask_positions[b, m]]`: `(B, S, d), (B, M) -> (B, M, d)`.

    Positions are checked against `S` and the batch sizes against each other
    when they are known; inside compiled functions a position outside
    `[0, S)` gathers an all-zero vector.
    """
    mask_positions = integer_ids("mask_positions", mask_positions)
    if len(mask_positions.shape) != 2 or len(inputs.shape) != 3:
        raise ValueError(
            "`inputs` must have shape (batch, sequence, hidden) and "
            "`mask_positions` shape (batch, masks_per_sequence). Received: "
            f"inputs.shape={tuple(inputs.shape)}, "
            f"mask_positions.shape={tuple(mask_positions.shape)}."
        )
    batch, positions_batch = inputs.shape[0], mask_positions.shape[0]
    if batch is not None and positions_batch is not None and batch != positions_batch:
        raise ValueError(
            "`inputs` and `mask_positions` must have the same batch size; "
            f"broadcasting one over the other is refused. Received: "
            f"inputs.shape={tuple(inputs.shape)}, "
            f"mask_positions.shape={tuple(mask_positions.shape)}."
        )
    sequence_length = inputs.shape[1]
    what = f"the sequence (sequence_length={sequence_length})"
    return lookup_rows(inputs, mask_positions, "mask_positions", what, batch_dims=1)


@keras.saving.register_keras_serializable(package="keras_embed")
class MaskedLMHead(CheckedCallArgumentsMixin, SublayerQuantizationMixin, PaddedTableMixin, keras.layers.Layer):
    """Masked language model head: predicts the vocabulary at masked positions.

    The layer gathers the encoder outputs at `mask_positions`, passes them
    through a `Dense` layer of the hidden size with `intermediate_activation`
    and a `LayerNormalization`, then projects them to the vocabulary, either
    with a tied `ReversibleEmbedding` (`token_embedding(x, reverse=True)`,
    Press and Wolf, 2016) or with its own `(hidden, vocabulary_size)` kernel,
    adds an output bias and applies `activation`. It has six trainable
    weights of its own or shared: dense kernel and bias, layer-norm scale and
    offset, the projection (the embedding table or its own kernel) and the
    output bias.

    Arguments, defaults and float32 numerics match `keras_hub.layers.
    MaskedLMHead` (keras-hub 0.32), with these differences: out-of-range
    `mask_positions` and a batch-size mismatch between `inputs` and
    `mask_positions` raise a `ValueError` (keras-hub clamps the positions
    and broadcasts the batch silently); inside compiled functions an
    out-of-range position predicts from an all-zero vector. Under a mixed
    policy the logits are computed and returned in float32 (keras-hub casts
    them to the compute dtype), matching `ReversibleEmbedding`'s reverse
    projection.

    Args:
        vocabulary_size: int. Size of the output vocabulary. Optional when
            `token_embedding` is given; must then equal its `input_dim`.
        token_embedding: optional `ReversibleEmbedding` whose reverse
            projection produces the logits (tied weights).
        intermediate_activation: activation of the intermediate dense layer.
            Defaults to `"relu"`.
        activation: activation of the outputs, usually `None` (logits) or
            `"softmax"`. Defaults to `None`.
        layer_norm_epsilon: float. Epsilon of the layer normalization.
            Defaults to `1e-5`.
        kernel_initializer: initializer of the dense kernel and of the output
            kernel. Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of the dense bias and of the output
            bias. Defaults to `"zeros"`.
        **kwargs: Other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: encoder outputs of shape `(batch, sequence, hidden)`.
        mask_positions: integer positions of shape `(batch, masks)`.

    Input shape:
        `inputs`: `(batch, sequence, hidden)`.
        `mask_positions`: `(batch, masks)`.

    Output shape:
        `(batch, masks, vocabulary_size)`.

    Returns:
        `(batch, masks, vocabulary_size)` logits (or `activation` of them).

    `model.quantize("int8")` (or `"int4"`) quantizes the intermediate dense
    and a `token_embedding` in the model; a `.keras` file keeps them
    quantized. The own output kernel (without `token_embedding`) and the
    bias stay in float.

    Example:

    >>> import numpy as np
    >>> from keras_embed.layers import ReversibleEmbedding
    >>> embedding = ReversibleEmbedding(input_dim=100, output_dim=16)
    >>> token_ids = np.random.randint(0, 100, size=(2, 10))
    >>> mask_positions = np.array([[1, 4, 7], [0, 2, 9]])
    >>> head = MaskedLMHead(token_embedding=embedding, activation="softmax")
    >>> probabilities = head(embedding(token_ids), mask_positions)
    >>> tuple(probabilities.shape)
    (2, 3, 100)

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
        - [Press and Wolf, 2016](https://arxiv.org/abs/1608.05859)
    """

    checked_call_arguments = {"inputs": "numbers", "mask_positions": "ids"}

    # The own kernel is `(hidden, vocabulary)`, the bias `(vocabulary,)`.
    row_sharded_variables = {"output_kernel": (None, "rows"), "output_bias": ("rows",)}

    shared_sublayers = ("token_embedding",)

    def __init__(
        self,
        vocabulary_size=None,
        token_embedding=None,
        intermediate_activation="relu",
        activation=None,
        layer_norm_epsilon=1e-05,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(autocast=False, **kwargs)
        if vocabulary_size is None and token_embedding is None:
            raise ValueError(
                "One of `vocabulary_size` or `token_embedding` must be set. "
                "Received: vocabulary_size=None, token_embedding=None."
            )
        check_positive_int("vocabulary_size", vocabulary_size, allow_none=True)
        if token_embedding is not None:
            if not callable(getattr(token_embedding, "call", None)) or not hasattr(
                token_embedding, "input_dim"
            ):
                raise ValueError(
                    "`token_embedding` must be a `ReversibleEmbedding` layer. "
                    f"Received: token_embedding of type {type(token_embedding).__name__}."
                )
            if vocabulary_size is not None and vocabulary_size != token_embedding.input_dim:
                raise ValueError(
                    "`vocabulary_size` must equal the `input_dim` of "
                    f"`token_embedding`. Received: vocabulary_size={vocabulary_size}, "
                    f"token_embedding.input_dim={token_embedding.input_dim}."
                )
            vocabulary_size = token_embedding.input_dim
        check_positive_float("layer_norm_epsilon", layer_norm_epsilon)
        self.vocabulary_size = vocabulary_size
        self.token_embedding = token_embedding
        self.intermediate_activation = keras.activations.get(intermediate_activation)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, inputs_shape, mask_positions_shape=None):
        if self.token_embedding is not None:
            hidden_size = self.token_embedding.output_dim
            if inputs_shape[-1] is not None and inputs_shape[-1] != hidden_size:
                raise ValueError(
                    "The last axis of `inputs` must equal `token_embedding.output_dim`. "
                    f"Received: inputs shape {tuple(inputs_shape)}, output_dim={hidden_size}."
                )
        else:
            hidden_size = inputs_shape[-1]
        self._intermediate_dense = keras.layers.Dense(
            hidden_size,
            activation=self.intermediate_activation,
            kernel_initializer=self.kernel_initializer.clone(),
            bias_initializer=self.bias_initializer.clone(),
            dtype=self.dtype_policy,
            name="intermediate_dense",
        )
        self._intermediate_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="intermediate_layer_norm",
        )
        self.restore_sublayer_quantization()
        # The number of masks does not size any weight, so it stays unknown.
        self._intermediate_dense.build((inputs_shape[0], None, inputs_shape[-1]))
        self._intermediate_layer_norm.build((inputs_shape[0], None, hidden_size))
        if self.token_embedding is None:
            self._kernel = self.add_weight(
                name="output_kernel",
                shape=(hidden_size, self.vocabulary_size),
                initializer=self.kernel_initializer.clone(),
                dtype=self.dtype,
            )
        elif not self.token_embedding.built:
            self.token_embedding.build()
        self._bias = self.add_weight(
            name="output_bias",
            shape=(self.vocabulary_size,),
            initializer=self.bias_initializer.clone(),
            dtype=self.dtype,
        )
        self.built = True

    def hidden_at_positions(self, inputs, mask_positions):
        """Gathered, transformed hidden states: `(B, S, d), (B, M) -> (B, M, d)`."""
        x = gather_positions(inputs, mask_positions)
        x = self._intermediate_dense(x)
        return self._intermediate_layer_norm(x)

    def call(self, inputs, mask_positions):
        x = self.hidden_at_positions(inputs, mask_positions)
        if self.token_embedding is not None:
            logits = self.token_embedding(x, reverse=True)
        else:
            dtype = reverse_compute_dtype(self.compute_dtype)
            kernel = stored_value(lambda: self.unpadded(self._kernel))
            logits = ops.matmul(ops.cast(x, dtype), ops.cast(kernel, dtype))
        bias = stored_value(lambda: self.unpadded(self._bias))
        logits = logits + ops.cast(bias, logits.dtype)
        if self.activation is not None:
            logits = self.activation(logits)
        return logits

    def compute_loss(self, inputs, mask_positions, mask_ids, mask_weights=None, **options):
        """Cross-entropy at the masked positions, without the masked logits.

        Gathers `inputs` at `mask_positions` first, applies the dense layer
        and the layer norm, then runs `keras_embed.ops.reverse_cross_entropy`
        with the projection (the tied table or the head's kernel), the output
        bias and `mask_weights` as sample weights. With the default
        `reduction="mean"` it equals the softmax cross-entropy of
        `self(inputs, mask_positions)` against `mask_ids`, weighted by
        `mask_weights` and divided by their sum, but the
        `(batch, masks, vocabulary_size)` logits never exist.

        Args:
            inputs: encoder outputs of shape `(batch, sequence, hidden)`.
            mask_positions: integer positions of shape `(batch, masks)`.
            mask_ids: integer ids of shape `(batch, masks)`, the original
                tokens at `mask_positions`.
            mask_weights: optional float weights of shape `(batch, masks)`,
                0 for padding masks (as `MaskedLMMaskGenerator` returns).
            **options: other keyword arguments of `reverse_cross_entropy`:
                `chunk_size`, `ignore_index`, `label_smoothing`, `z_loss`,
                `reduction`.

        Returns:
            A float32 scalar, or float32 losses of shape `(batch, masks)`
            with `reduction="none"`.

        Raises:
            ValueError: if `activation` is not `None` or `"softmax"` (the
                loss is computed from logits), or if the tied embedding has
                a `logit_soft_cap` (the head adds its bias after the cap,
                the fused loss before).

        Example, training with `model.fit`:

        >>> import numpy as np
        >>> from keras_embed.layers import ReversibleEmbedding
        >>> class TinyMaskedLM(keras.Model):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.embedding = ReversibleEmbedding(100, 16)
        ...         self.head = MaskedLMHead(token_embedding=self.embedding)
        ...         # call() never runs the head: build it before the optimizer.
        ...         self.head.build((None, 10, 16), (None, 3))
        ...     def call(self, inputs):
        ...         token_ids, mask_positions = inputs
        ...         return self.embedding(token_ids)  # the encoder's outputs
        ...     def compute_loss(self, x=None, y=None, y_pred=None,
        ...                      sample_weight=None, training=True):
        ...         return self.head.compute_loss(y_pred, x[1], y, sample_weight)
        >>> model = TinyMaskedLM()
        >>> model.compile(optimizer="adam")
        >>> token_ids = np.random.randint(0, 100, size=(4, 10))
        >>> mask_positions = np.array([[1, 4, 7]] * 4)
        >>> mask_ids = np.take_along_axis(token_ids, mask_positions, axis=1)
        >>> mask_weights = np.ones((4, 3), "float32")
        >>> history = model.fit(
        ...     (token_ids, mask_positions), mask_ids, sample_weight=mask_weights,
        ...     verbose=0)
        """
        if self.activation not in (None, keras.activations.linear, keras.activations.softmax):
            raise ValueError(
                "`compute_loss` needs logits: `activation` must be None or 'softmax'. "
                f"Received: activation={keras.activations.serialize(self.activation)!r}."
            )
        if self.token_embedding is not None and self.token_embedding.logit_soft_cap is not None:
            raise ValueError(
                "`compute_loss` does not support a `token_embedding` with a "
                "`logit_soft_cap`: the head adds its output bias after the cap. "
                f"Received: logit_soft_cap={self.token_embedding.logit_soft_cap}."
            )
        if not self.built:
            self.build(tuple(inputs.shape), tuple(mask_positions.shape))
        x = self.hidden_at_positions(inputs, mask_positions)  # (batch, masks, hidden)
        if self.token_embedding is not None:
            return self.token_embedding.reverse_loss(
                x, mask_ids, bias=self.unpadded(self._bias), sample_weight=mask_weights, **options
            )
        return reverse_cross_entropy(
            x,
            self.unpadded(self._kernel),
            mask_ids,
            transpose=False,
            bias=self.unpadded(self._bias),
            sample_weight=mask_weights,
            compute_dtype=reverse_compute_dtype(self.compute_dtype),
            **options,
        )

    def compute_output_shape(self, inputs_shape, mask_positions_shape):
        return tuple(mask_positions_shape) + (self.vocabulary_size,)

    def compute_output_spec(self, inputs, mask_positions):
        shape = self.compute_output_shape(inputs.shape, mask_positions.shape)
        if self.token_embedding is not None:
            dtype = reverse_compute_dtype(
                self.token_embedding.compute_dtype, self.token_embedding.reverse_dtype
            )
        else:
            dtype = reverse_compute_dtype(self.compute_dtype)
        return keras.KerasTensor(shape, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "token_embedding": (
                    keras.layers.serialize(self.token_embedding)
                    if self.token_embedding is not None
                    else None
                ),
                "intermediate_activation": keras.activations.serialize(
                    self.intermediate_activation
                ),
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("token_embedding") is not None:
            config["token_embedding"] = keras.layers.deserialize(config["token_embedding"])
        return super().from_config(config)
