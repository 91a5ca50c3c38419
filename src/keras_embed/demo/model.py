"""The demo's small encoder: our embedding layers around a compact rotary attention block."""

import keras
from keras import ops

from keras_embed.layers import MaskedLMHead
from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import RotaryEmbedding


@keras.saving.register_keras_serializable(package="keras_embed.demo")
class RotaryEncoderBlock(keras.layers.Layer):
    """Pre-norm transformer encoder block whose queries and keys carry rotary positions.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Width of the feed-forward layer.
        dropout: float. Dropout rate after attention and feed-forward.

    Call arguments:
        hidden: `(batch, sequence, hidden)` states.
        padding_mask: `(batch, sequence)` booleans, `True` for real tokens.
    """

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout

    def build(self, hidden_shape, padding_mask_shape=None):
        hidden_size = hidden_shape[-1]
        if hidden_size % self.num_heads:
            raise ValueError(
                f"The hidden size {hidden_size} must be divisible by num_heads={self.num_heads}."
            )
        self.head_dim = hidden_size // self.num_heads
        sublayer = dict(dtype=self.dtype_policy)
        self.attention_norm = keras.layers.LayerNormalization(name="attention_norm", **sublayer)
        self.qkv = keras.layers.Dense(3 * hidden_size, name="qkv", **sublayer)
        self.rotary = RotaryEmbedding(sequence_axis=1, feature_axis=-1, name="rotary", **sublayer)
        self.attention_output = keras.layers.Dense(hidden_size, name="attention_output", **sublayer)
        self.feedforward_norm = keras.layers.LayerNormalization(name="feedforward_norm", **sublayer)
        self.feedforward_in = keras.layers.Dense(
            self.intermediate_dim, activation="gelu", name="feedforward_in", **sublayer
        )
        self.feedforward_out = keras.layers.Dense(hidden_size, name="feedforward_out", **sublayer)
        self.drop = keras.layers.Dropout(self.dropout, **sublayer)
        self.attention_norm.build(hidden_shape)
        self.qkv.build(hidden_shape)
        self.attention_output.build(hidden_shape)
        self.feedforward_norm.build(hidden_shape)
        self.feedforward_in.build(hidden_shape)
        self.feedforward_out.build(tuple(hidden_shape[:-1]) + (self.intermediate_dim,))

    def call(self, hidden, padding_mask, training=None):
        batch, sequence = ops.shape(hidden)[0], ops.shape(hidden)[1]
        # (batch, sequence, 3 * hidden) -> 3 x (batch, sequence, heads, head_dim)
        qkv = self.qkv(self.attention_norm(hidden))
        qkv = ops.reshape(qkv, (batch, sequence, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        query, key = self.rotary(query), self.rotary(key)
        # (batch, heads, sequence, sequence) scores, padding keys excluded.
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key) / (self.head_dim**0.5)
        key_mask = ops.expand_dims(ops.expand_dims(padding_mask, 1), 1)
        scores = ops.where(key_mask, scores, ops.cast(-1e4, scores.dtype))
        weights = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        attended = ops.einsum("bhqk,bkhd->bqhd", ops.cast(weights, value.dtype), value)
        attended = ops.reshape(attended, (batch, sequence, self.num_heads * self.head_dim))
        hidden = hidden + self.drop(self.attention_output(attended), training=training)
        update = self.feedforward_out(self.feedforward_in(self.feedforward_norm(hidden)))
        return hidden + self.drop(update, training=training)

    def compute_output_shape(self, hidden_shape, padding_mask_shape=None):
        return tuple(hidden_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
            }
        )
        return config


def build_masked_lm(
    vocabulary_size,
    sequence_length,
    hidden_size=128,
    num_heads=4,
    num_layers=2,
    intermediate_dim=256,
    dropout=0.1,
):
    """`(token_ids, mask_positions) -> (batch, masks, vocabulary)` logits.

    Token ids are embedded by a tied `ReversibleEmbedding`; rotary positions enter
    every block's queries and keys; a `MaskedLMHead` tied to the same table predicts
    the masked tokens.
    """
    token_ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    mask_positions = keras.Input((None,), dtype="int32", name="mask_positions")
    token_embedding = ReversibleEmbedding(
        vocabulary_size,
        hidden_size,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
        name="token_embedding",
    )
    padding_mask = ops.not_equal(token_ids, 0)
    hidden = token_embedding(token_ids)
    for index in range(num_layers):
        hidden = RotaryEncoderBlock(
            num_heads, intermediate_dim, dropout=dropout, name=f"encoder_block_{index}"
        )(hidden, padding_mask)
    hidden = keras.layers.LayerNormalization(name="final_norm")(hidden)
    logits = MaskedLMHead(token_embedding=token_embedding, name="mlm_head")(hidden, mask_positions)
    return keras.Model([token_ids, mask_positions], logits, name="docstring_mlm")


class FusedLossTrainer(keras.Model):
    """Trains a `build_masked_lm` model with `MaskedLMHead.compute_loss`.

    `call` runs only the encoder, and `compute_loss` hands its hidden states to
    the head's fused cross-entropy, so no `(batch, masks, vocabulary)` logits
    are ever formed, in the forward pass or in the gradient. The weights are
    the masked LM's own: training this model trains it.

    Args:
        masked_lm: a model from `build_masked_lm`.
    """

    def __init__(self, masked_lm, **kwargs):
        super().__init__(**kwargs)
        token_ids = masked_lm.inputs[0]
        # The same layers, stopped before the head: token ids -> final hidden states.
        self.encoder = keras.Model(token_ids, masked_lm.get_layer("final_norm").output)
        self.head = masked_lm.get_layer("mlm_head")

    def call(self, inputs):
        token_ids, _ = inputs
        return self.encoder(token_ids)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        _, mask_positions = x
        return self.head.compute_loss(y_pred, mask_positions, y, sample_weight)
