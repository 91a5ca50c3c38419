"""Optimizers that update sparse embedding tables row by row (and everything else as keras does).

`keras_embed.optimizers.SGD`, `Adagrad`, `Adam` and `AdamW` take the arguments
of their keras namesakes and update dense variables bit-for-bit as keras
does. A table built with `sparse=True` (`keras_embed.layers.Embedding`,
`EmbeddingBag`) is updated only on the rows a step looked up; see
`keras_embed.ops.row_sparse` for how, and docs/sparse.md.
"""

from keras_embed.optimizers.adagrad import Adagrad  # noqa: F401
from keras_embed.optimizers.adam import Adam  # noqa: F401
from keras_embed.optimizers.adamw import AdamW  # noqa: F401
from keras_embed.optimizers.sgd import SGD  # noqa: F401
