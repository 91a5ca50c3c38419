from keras_embed.ops.cross_entropy import reverse_cross_entropy  # noqa: F401
