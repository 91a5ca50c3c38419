"""Preprocessing layers that prepare model inputs (also exported from `keras_embed.layers`)."""

from keras_embed.preprocessing.masked_lm_mask_generator import MaskedLMMaskGenerator
from keras_embed.preprocessing.hash_strings import hash_strings
from keras_embed.preprocessing.hash_strings import split_ids
from keras_embed.preprocessing.subword_tokenizer import SubwordTokenizer
