"""Sharding keras-embed tables over devices with `keras.distribution` (JAX)."""

from keras_embed.distribution.layout import embedding_layout_map
