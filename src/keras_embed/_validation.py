"""Argument checks shared by every module (private). Backend-free: `keras_embed.ops` sits above."""

import math
import numbers

import numpy as np


def describe(value):
    """`value (of type T)`, the way our error messages quote what arrived."""
    return f"{value!r} (of type {type(value).__name__})"


def is_integer(value):
    """Whether `value` is a Python or numpy integer; a bool is not one."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a Python or numpy real number; a bool is not one."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _invalid(name, value, expected, allow_none):
    expected += " or None" if allow_none else ""
    return ValueError(f"`{name}` must be {expected}. Received: {name}={describe(value)}.")


def check_integer(name, value, minimum=None, maximum=None, allow_none=False, expected=None):
    """`value` as an `int` if it is an integer in `[minimum, maximum]`, else a `ValueError`.

    `expected` words the requirement in the message; by default it is told
    from the bounds ("a positive integer", "an integer in [0, 5]", ...).
    """
    if value is None and allow_none:
        return None
    if (
        not is_integer(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        if expected is None:
            if maximum is not None:
                expected = f"an integer in [{minimum}, {maximum}]"
            else:
                words = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
                expected = words.get(minimum, f"an integer >= {minimum}")
        raise _invalid(name, value, expected, allow_none)
    return int(value)


def check_positive_int(name, value, allow_none=False):
    return check_integer(name, value, minimum=1, allow_none=allow_none)


def check_string_list(name, values, minimum=0, expected="a list of strings"):
    """`values` as a list of at least `minimum` strings, else a `ValueError` naming the first bad one.

    `expected` words what the list is ("a list of column names"); a string is no list.
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise _invalid(name, values, expected, False)
    values = list(values)
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise _invalid(f"{name}[{position}]", value, "a string", False)
    if len(values) < minimum:
        entries = "entry" if minimum == 1 else "entries"
        raise _invalid(name, values, f"{expected} with at least {minimum} {entries}", False)
    return values


def _integers_word(minimum):
    return {0: "non-negative integers", 1: "positive integers"}.get(minimum, f"integers >= {minimum}")


def check_integer_list(name, values, minimum=1, increasing=False):
    """`values` as a list of ints, each checked by `check_integer` as `name[i]`, else a `ValueError`.

    The list must be non-empty (a string is no list); `increasing` also asks
    each entry to exceed the one before it.
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or not len(values):
        raise _invalid(name, values, f"a non-empty list of {_integers_word(minimum)}", False)
    checked = [check_integer(f"{name}[{i}]", value, minimum=minimum) for i, value in enumerate(values)]
    if increasing and any(later <= earlier for earlier, later in zip(checked, checked[1:])):
        raise _invalid(name, values, f"increasing {_integers_word(minimum)}", False)
    return checked


def check_number(name, value, sign=None, finite=False, allow_none=False, expected=None):
    """`value` if it is a real number, else a `ValueError`; NaN never passes.

    `sign` is None, `"positive"` (> 0) or `"non-negative"` (>= 0); `finite`
    also refuses infinities. `expected` words the requirement in the message
    (by default told from `sign` and `finite`: "a positive finite number").
    """
    if value is None and allow_none:
        return None
    lowest_ok = {None: lambda v: v == v, "positive": lambda v: v > 0, "non-negative": lambda v: v >= 0}
    if not is_number(value) or not lowest_ok[sign](value) or (finite and not math.isfinite(value)):
        if expected is None:
            expected = f"a {sign + ' ' if sign else ''}{'finite ' if finite else ''}number"
        raise _invalid(name, value, expected, allow_none)
    return value


def check_callable(name, value):
    if not callable(value):
        raise _invalid(name, value, "callable", False)
    return value


def check_positive_float(name, value, allow_none=False):
    return check_number(name, value, sign="positive", allow_none=allow_none)


def check_soft_cap(logit_soft_cap):
    """A logit soft cap: a positive finite number (an infinite cap would give NaN), or None."""
    return check_number("logit_soft_cap", logit_soft_cap, "positive", finite=True, allow_none=True)


def check_rate(name, value):
    if not is_number(value) or not 0 <= value <= 1:
        raise _invalid(name, value, "a number in [0, 1]", False)
    return float(value)


def check_bool(name, value, expected="True or False"):
    """`value` if it is a bool, else a `ValueError` saying `expected` (the rotary layers say "a bool")."""
    if not isinstance(value, bool):
        raise _invalid(name, value, expected, False)
    return value


def check_whole_numbers(name, values):
    """Raise, naming the first, if float numpy `values` hold a fractional or non-finite value."""
    values = np.asarray(values)
    if not values.size:
        return
    fractional = ~np.isfinite(values) | (values != np.round(values))
    if fractional.any():
        where = tuple(int(i) for i in np.argwhere(fractional)[0])
        raise ValueError(
            f"`{name}` must hold integer ids; float ids are cast only when "
            f"they are whole numbers. Received: {float(values[where])!r} at index "
            f"{where} (dtype {values.dtype})."
        )


def canonical_axis(name, axis, rank):
    check_integer(name, axis, expected="an integer axis")
    if not -rank <= axis < rank:
        raise ValueError(
            f"`{name}`={axis} is out of range for inputs of rank {rank}; "
            f"valid axes are {-rank}..{rank - 1}."
        )
    return axis % rank


def check_choice(name, value, choices):
    """`value` if it is one of `choices` (strings, and None where listed), else a `ValueError`."""
    if not (isinstance(value, str) or value is None) or value not in choices:
        raise _invalid(name, value, f"one of {list(choices)}", False)
    return value


def check_row_index(name, value, rows, allow_none=True):
    """An index into `rows` rows, negative counting from the end (torch's rule) -> `[0, rows)`."""
    if value is None and allow_none:
        return None
    if not is_integer(value) or not -rows <= value < rows:
        raise ValueError(
            f"`{name}` must be an integer in [{-rows}, {rows}) for a table of {rows} rows "
            f"(negative values count from the end). Received: {name}={describe(value)}."
        )
    return int(value) % rows


def check_float_dtype(name, value, allow_none=True):
    """`value` as a standardized floating dtype name ('float32', 'bfloat16', ...), or None."""
    if value is None and allow_none:
        return None
    import keras  # here, so that importing this module loads no backend

    try:
        standard = keras.backend.standardize_dtype(value)
    except (ValueError, TypeError):
        standard = None
    if standard is None or "float" not in standard:
        raise _invalid(name, value, "a floating dtype such as 'float32' or 'bfloat16'", allow_none)
    return standard


def check_unique(name, values):
    """Raise, naming the first repeat and both its positions, if `values` holds one twice."""
    first_seen = {}
    for position, value in enumerate(values):
        if value in first_seen:
            raise ValueError(
                f"`{name}` must not repeat an entry (the second copy could never be reached). "
                f"Received: {value!r} at positions {first_seen[value]} and {position}."
            )
        first_seen[value] = position


def check_finite(name, values):
    """Raise, naming the first, if numpy `values` hold a NaN or an infinity."""
    values = np.asarray(values)
    if values.dtype.kind != "f" or not values.size:
        return
    bad = ~np.isfinite(values)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` must hold finite numbers. Received: {float(values[where])!r} at index "
            f"{where} (dtype {values.dtype})."
        )


def check_token_id_array(name, values, vocabulary_size, ranks=(1, 2)):
    """`values` as int64 numpy ids in `[0, vocabulary_size)` of a rank in `ranks`, or a `ValueError`.

    For concrete values (lists, numpy arrays); whole-number floats pass, as
    for the embedding layers. None, strings, bools, ragged nesting, NaN and
    fractional floats raise, and so does the first id outside the vocabulary.
    """
    shapes = " or ".join({1: "a 1-D sequence", 2: "a 2-D batch"}[rank] for rank in ranks)
    try:
        array = None if values is None or isinstance(values, (str, bytes)) else np.asarray(values)
    except (TypeError, ValueError):  # nested lists of unequal depth have no shape
        array = None
    if array is None or array.ndim not in ranks:
        received = describe(values) if array is None else f"an array of shape {array.shape}"
        raise ValueError(
            f"`{name}` must be {shapes} of integer token ids. Received: {received:.200}."
        )
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"`{name}` must hold integer token ids. Received dtype {array.dtype}; strings "
            "and bools are never read as ids: cast the ids first, e.g. `np.asarray(ids, 'int32')`."
        )
    if array.dtype.kind == "f":
        check_whole_numbers(name, array)
    # Compared before the cast, which would wrap a huge id into the vocabulary.
    outside = (array < 0) | (array >= vocabulary_size)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"`{name}` holds the id {int(array[where])} at index {where}, outside "
            f"the vocabulary [0, {vocabulary_size})."
        )
    return array.astype(np.int64)


def check_word_list(name, values):
    """`values` as a list if it is a non-empty sequence of distinct strings, else a `ValueError`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or not len(values):
        raise _invalid(name, values, "a non-empty list of distinct strings", False)
    values = list(values)
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"`{name}` must hold strings; {name}[{position}] is {describe(value)}.")
    check_unique(name, values)
    return values
