"""Weight-only int8 / int4 quantisation of `ReversibleEmbedding`'s tables.

Kept apart from the layer so that `reversible_embedding.py` reads as the float
layer; `ReversibleEmbedding` inherits `ReversibleQuantizationMixin`, and
`SemiFrozenReversibleEmbedding` overrides its `quantize` and
`_table_to_quantize` hooks. The variables follow keras' own layout (the
forward table through `keras.layers.Embedding`'s `_int8_build` /
`_int4_build`, the untied reverse kernel `(output_dim, input_dim)` packed
along `output_dim`).
"""

import math

import keras
from keras import ops

from keras_embed.ops import quantization


class ReversibleQuantizationMixin:
    """Quantisation methods of `ReversibleEmbedding`; placed before `Embedding` in its bases."""

    def quantize(self, mode=None, type_check=True, config=None):
        """Store the table(s) in int8 or int4, as `keras.layers.Embedding` does.

        Called by `model.quantize(mode)` or `layer.quantize(mode, config=...)`
        with `mode` `"int8"` or `"int4"` and an optional
        `keras.quantizers.Int8QuantizationConfig` / `Int4QuantizationConfig`
        (custom weight / activation quantizers, int4 `block_size`). The
        variables, their names, shapes and values, and the outputs are those of
        keras' own `ReversibleEmbedding` in Keras 3.15; beyond it, the
        `mask_zero` mask is kept and reverse logits stay in the reverse dtype
        (float32 under mixed precision). `reverse_loss` refuses a quantised
        layer. `type_check` is accepted for keras' API and ignored: subclasses
        of this layer quantise through `_table_to_quantize`.
        """
        del type_check
        self._refuse_padded("Quantization")
        if mode not in ("int8", "int4"):
            raise self._quantization_mode_error(mode)
        self.quantization_config = config
        table = quantization.quantize_matrix(self._table_to_quantize(), mode, config, 1)
        if not self.tie_weights:
            kernel = quantization.quantize_matrix(self.reverse_embeddings, mode, config, 0)
            del self.reverse_embeddings
        del self._embeddings
        self.quantized_build((self.input_dim, self.output_dim), mode, config)
        self._assign_quantized("embeddings", *table)
        if not self.tie_weights:
            self._assign_quantized("reverse_embeddings", *kernel)
        if self.dtype_policy.quantization_mode is None:
            name = mode
            if mode == "int4":
                block_size = getattr(self, "_int4_block_size", None)
                name = f"int4/{-1 if block_size is None else block_size}"
            self.dtype_policy = keras.dtype_policies.get(f"{name}_from_{self.dtype_policy.name}")

    def _table_to_quantize(self):
        """The float `(input_dim, output_dim)` table that `quantize` stores."""
        return self._embeddings

    def _assign_quantized(self, prefix, values, scale, zero):
        variable = self._embeddings if prefix == "embeddings" else self.reverse_embeddings
        variable.assign(values)
        getattr(self, f"{prefix}_scale").assign(scale)
        if zero is not None:
            getattr(self, f"{prefix}_zero").assign(zero)

    def quantized_build(self, embeddings_shape, mode, config=None):
        # The forward table's variables are `keras.layers.Embedding`'s own.
        if mode == "int8":
            super()._int8_build(embeddings_shape, config)
        elif mode == "int4":
            super()._int4_build(embeddings_shape, config)
        else:
            raise self._quantization_mode_error(mode)
        self.inputs_quantizer = keras.quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, keras.quantizers.AbsMaxQuantizer(axis=-1)
        )
        if not self.tie_weights:
            self._build_quantized_reverse(mode)
        self._is_quantized = True

    def _build_quantized_reverse(self, mode):
        # (output_dim, input_dim) kernel, packed two int4 per byte along output_dim.
        rows = self.output_dim if mode == "int8" else (self.output_dim + 1) // 2
        self.reverse_embeddings = self.add_weight(
            name="reverse_embeddings",
            shape=(rows, self.input_dim),
            initializer="zeros",
            dtype="int8",
            trainable=False,
        )
        block_size = getattr(self, "_int4_block_size", None) if mode == "int4" else None
        if quantization.is_grouped(block_size):
            scale_shape = (math.ceil(self.output_dim / block_size), self.input_dim)
        else:
            scale_shape = (self.input_dim,)
        self.reverse_embeddings_scale = self.add_weight(
            name="reverse_embeddings_scale",
            shape=scale_shape,
            initializer="ones",
            trainable=False,
        )
        if quantization.is_grouped(block_size):
            self.reverse_embeddings_zero = self.add_weight(
                name="reverse_embeddings_zero",
                shape=scale_shape,
                initializer="zeros",
                trainable=False,
            )

    def _grouped(self):
        return self.quantization_mode == "int4" and quantization.is_grouped(
            getattr(self, "_int4_block_size", None)
        )

    def _dequantized_rows(self, ids):
        """Rows `ids` (valid) of the quantised table plus any LoRA update: `(...) -> (..., d)`."""
        rows = self._dequantized_base_rows(ids)
        if self.lora_enabled:
            update = ops.matmul(ops.take(self.lora_embeddings_a, ids, axis=0), self.lora_embeddings_b)
            rows = ops.add(rows, (self.lora_alpha / self.lora_rank) * update)
        return rows

    def _lora_logits(self, inputs):
        """`inputs @ (a @ b).T` scaled: the tied LoRA update's share of the logits."""
        projected = ops.matmul(inputs, ops.transpose(ops.cast(self.lora_embeddings_b, inputs.dtype)))
        update = ops.matmul(projected, ops.transpose(ops.cast(self.lora_embeddings_a, inputs.dtype)))
        return (self.lora_alpha / self.lora_rank) * update

    def _dequantized_base_rows(self, ids):
        dtype = self.compute_dtype
        values = ops.take(self._embeddings, ids, axis=0)  # (..., d) or (..., ceil(d/2))
        if self.quantization_mode == "int4":
            values = keras.quantizers.unpack_int4(values, self.output_dim, axis=-1)
        scale = ops.take(self.embeddings_scale, ids, axis=0)  # (...) or (..., groups)
        if self._grouped():
            zero = ops.take(self.embeddings_zero, ids, axis=0)
            return quantization.dequantize_grouped(values, scale, zero, self.g_idx, -1, dtype)
        return quantization.dequantize_per_channel(values, scale, -1, dtype)

    def _dequantized_reverse_kernel(self, dtype):
        """The whole `(output_dim, input_dim)` kernel in `dtype`."""
        if self.tie_weights:
            values = self._embeddings  # (V, d) or packed (V, ceil(d/2))
            if self.quantization_mode == "int4":
                values = keras.quantizers.unpack_int4(values, self.output_dim, axis=-1)
            if self._grouped():
                table = quantization.dequantize_grouped(
                    values, self.embeddings_scale, self.embeddings_zero, self.g_idx, -1, dtype
                )
            else:
                table = quantization.dequantize_per_channel(
                    values, self.embeddings_scale, -1, dtype
                )
            return ops.transpose(table)
        values = self.reverse_embeddings  # (d, V) or packed (ceil(d/2), V)
        if self.quantization_mode == "int4":
            values = keras.quantizers.unpack_int4(values, self.output_dim, axis=0)
        if self._grouped():
            return quantization.dequantize_grouped(
                values, self.reverse_embeddings_scale, self.reverse_embeddings_zero,
                self.g_idx, 0, dtype,
            )
        return quantization.dequantize_per_channel(values, self.reverse_embeddings_scale, 0, dtype)

    def _quantized_logits(self, inputs, dtype):
        """`inputs @ kernel` on the quantised kernel, in `dtype`: `(..., d) -> (..., V)`.

        Per channel, the integer product is scaled afterwards (inputs quantised
        by `inputs_quantizer` when there is one); grouped int4 needs the zero
        points inside the sum, so the kernel is dequantised first.
        """
        if self._grouped():
            if self.inputs_quantizer:
                inputs, inputs_scale = self.inputs_quantizer(inputs)
                kernel = self._dequantized_reverse_kernel(dtype)
                return ops.divide(ops.matmul(ops.cast(inputs, dtype), kernel), inputs_scale)
            return ops.matmul(inputs, self._dequantized_reverse_kernel(dtype))
        if self.tie_weights:
            values, scale = ops.transpose(self._embeddings), self.embeddings_scale
        else:
            values, scale = self.reverse_embeddings, self.reverse_embeddings_scale
        if self.quantization_mode == "int4":
            values = keras.quantizers.unpack_int4(values, self.output_dim, axis=0)
        if self.inputs_quantizer:
            inputs, inputs_scale = self.inputs_quantizer(inputs)
        else:
            inputs_scale = ops.ones((1,), dtype=dtype)
        logits = ops.cast(ops.matmul(inputs, values), dtype)
        return ops.divide(logits, ops.multiply(inputs_scale, ops.cast(scale, dtype)))
