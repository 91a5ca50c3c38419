from keras_embed.ops.cross_entropy import reverse_cross_entropy  # noqa: F401
from keras_embed.ops.multimodal_rope import multimodal_positions  # noqa: F401
