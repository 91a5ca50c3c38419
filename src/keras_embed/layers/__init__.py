"""Public layers of keras-embed (mirrors `keras_hub.layers` where names are shared)."""

from keras_embed.layers.axial_rotary_embedding import AxialRotaryEmbedding
from keras_embed.layers.lie_rotary_embedding import LieRotaryEmbedding
from keras_embed.layers.masked_lm_head import MaskedLMHead
from keras_embed.layers.multimodal_rotary_embedding import MultimodalRotaryEmbedding
from keras_embed.layers.position_embedding import PositionEmbedding
from keras_embed.layers.reversible_embedding import ReversibleEmbedding
from keras_embed.layers.rotary_embedding import RotaryEmbedding
from keras_embed.layers.sine_position_encoding import SinePositionEncoding
from keras_embed.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_embed.preprocessing.masked_lm_mask_generator import MaskedLMMaskGenerator
from keras_embed.vectors.layers import SemiFrozenReversibleEmbedding
