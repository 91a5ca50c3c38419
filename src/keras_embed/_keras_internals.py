"""Every private Keras symbol keras-embed relies on, in one place (private).

Checked on keras 3.14.0 and 3.15.1 (pyproject: keras>=3.14). When Keras moves
one of these, this module is the only one to change; `tests/test_architecture.py`
forbids `keras.src` imports and the optimizers' private slot lists anywhere else.
"""

from keras.src.backend import AutocastScope
from keras.src.backend import get_stateless_scope
from keras.src.backend import in_stateless_scope
from keras.src.backend import set_keras_mask
from keras.src.backend.common import global_state
from keras.src.backend.common.name_scope import current_path

__all__ = [
    "AutocastScope",
    "accumulated_gradient",
    "adagrad_accumulator",
    "adam_moments",
    "call_training_flag",
    "current_path",
    "get_stateless_scope",
    "in_stateless_scope",
    "set_keras_mask",
]


def call_training_flag():
    """`training` of the current layer call: True, False, or None when nobody said."""
    context = global_state.get_global_attribute("current_call_ctx")
    return None if context is None else context.get_value("training")


def _slot(optimizer, slots, variable):
    return slots[optimizer._get_variable_index(variable)]


def adagrad_accumulator(optimizer, variable):
    """The squared-gradient accumulator `keras.optimizers.Adagrad` keeps for `variable`."""
    return _slot(optimizer, optimizer._accumulators, variable)


def adam_moments(optimizer, variable):
    """`(first, second, maximum)` moments `keras.optimizers.Adam` keeps for `variable`.

    `maximum` (the running maximum of the second moment) is None without `amsgrad`.
    """
    first = _slot(optimizer, optimizer._momentums, variable)
    second = _slot(optimizer, optimizer._velocities, variable)
    maximum = _slot(optimizer, optimizer._velocity_hats, variable) if optimizer.amsgrad else None
    return first, second, maximum


def accumulated_gradient(optimizer, variable):
    """The gradient a keras optimizer sums for `variable` over `gradient_accumulation_steps`."""
    return _slot(optimizer, optimizer._accumulated_gradients, variable)
