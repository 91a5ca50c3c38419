import keras
from keras import ops

from keras_embed._validation import check_positive_int
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.layers._sublayer_quantization import SublayerQuantizationMixin
from keras_embed.layers.position_embedding import PositionEmbedding
from keras_embed.layers.reversible_embedding import ReversibleEmbedding


@keras.saving.register_keras_serializable(package="keras_embed")
class TokenAndPositionEmbedding(CheckedCallArgumentsMixin, SublayerQuantizationMixin, keras.layers.Layer):
    """The sum of a token embedding and a learned position embedding.

    Token ids of shape `(..., sequence)` are embedded with a
    `ReversibleEmbedding` (available as `token_embedding`, so a head can
    reuse it in reverse) and added to a `PositionEmbedding` of the same
    width. With `mask_zero=True` the output carries the padding mask of the
    token ids. Numerics match `keras_hub.layers.TokenAndPositionEmbedding`.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        sequence_length: int. The number of positions the position table holds.
        embedding_dim: int. Width of both embeddings.
        tie_weights: bool. Whether `token_embedding` projects back to the
            vocabulary with its transposed table. Defaults to `True`.
        embeddings_initializer: initializer of both tables. Defaults to
            `"uniform"`.
        mask_zero: bool. Whether token id 0 is padding. Defaults to `False`.
        **kwargs: Other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: integer token ids of shape `(..., sequence)`.
        start_index: int or scalar integer tensor. Position of the first
            token, for cached decoding. Defaults to `0`.
        positions: optional integer tensor of shape `(sequence,)` or
            `(batch, sequence)`; overrides `start_index`.

    Input shape:
        `inputs`: `(..., sequence)`, e.g. `(batch, sequence)`.
        `positions`: `(sequence,)` or `(batch, sequence)`.

    Output shape:
        `(..., sequence, embedding_dim)`.

    Returns:
        Tensor of shape `(..., sequence, embedding_dim)` in the compute dtype.

    `model.quantize("int8")` (or `"int4"`, or `layer.quantize(...)`)
    quantizes the token table, and a `.keras` file keeps it quantized.

    Example:

    >>> import numpy as np
    >>> layer = TokenAndPositionEmbedding(
    ...     vocabulary_size=1000, sequence_length=16, embedding_dim=8)
    >>> token_ids = np.random.randint(0, 1000, size=(2, 16))
    >>> tuple(layer(token_ids).shape)
    (2, 16, 8)
    """

    checked_call_arguments = {"inputs": "ids", "positions": "ids"}

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        tie_weights=True,
        embeddings_initializer="uniform",
        mask_zero=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.token_embedding = ReversibleEmbedding(
            vocabulary_size,
            embedding_dim,
            tie_weights=tie_weights,
            embeddings_initializer=self.embeddings_initializer.clone(),
            mask_zero=mask_zero,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=sequence_length,
            initializer=self.embeddings_initializer.clone(),
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.supports_masking = self.token_embedding.supports_masking

    def build(self, input_shape):
        self.restore_sublayer_quantization()
        input_shape = tuple(input_shape)
        self.token_embedding.build(input_shape)
        self.position_embedding.build(input_shape + (self.embedding_dim,))
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        embedded_tokens = self.token_embedding(inputs)
        embedded_positions = self.position_embedding(
            embedded_tokens, start_index=start_index, positions=positions
        )
        return embedded_tokens + embedded_positions

    def compute_mask(self, inputs, mask=None):
        # The inputs are always ids (float ones in a `Sequential` without `Input`).
        if not self.token_embedding.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "tie_weights": self.token_embedding.tie_weights,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
                "mask_zero": self.token_embedding.mask_zero,
            }
        )
        return config
