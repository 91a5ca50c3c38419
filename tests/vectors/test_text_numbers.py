"""The bulk number parser (numpy's) equals Python's float() rounded to the target dtype."""

import numpy as np
import pytest

from keras_embed.vectors._text import DecimalSyntaxError, parse_decimals

pytestmark = pytest.mark.backend_independent


def reference(tokens, dtype):
    return np.array([float(token) for token in tokens], dtype=np.float64).astype(dtype)


def random_tokens(count=3000):
    rng = np.random.default_rng(7)
    values = rng.normal(scale=10.0 ** rng.integers(-6, 6, size=count), size=count)
    formats = ["{:.9g}", "{:.6f}", "{!r}", "{:.3e}", "{:.17g}", "{:.0f}", "{:+.4f}"]
    return [formats[i % len(formats)].format(float(v)) for i, v in enumerate(values)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_tokens_parse_like_float(dtype):
    tokens = random_tokens()
    values = parse_decimals(" ".join(tokens).encode(), dtype)
    np.testing.assert_array_equal(values, reference(tokens, dtype))


def test_edge_case_tokens_parse_like_float():
    tokens = [
        "0", "-0", "1.", ".5", "-.5", "+7", "1E5", "1e+05", "2.5e-3", "12345678.87654321",
        "0.0000000000000000001", "123456789012345678", "9007199254740993", "1e-30",
        "3.4028235e38", "nan", "inf", "-inf", "1e400", "4.9e-324", "00012.500",
    ]
    values = parse_decimals(" ".join(tokens).encode(), "float64")
    np.testing.assert_array_equal(values, reference(tokens, "float64"))


def test_tokens_split_on_any_ascii_whitespace():
    values = parse_decimals(b" 1\t2\n3\r\n 4  ", "float32")
    np.testing.assert_array_equal(values, [1, 2, 3, 4])


@pytest.mark.parametrize("bad", ["1.2.3", "x", "1_0", "--1", "0x10", "1e", "."])
def test_a_token_that_is_not_a_number_is_reported_with_its_index(bad):
    with pytest.raises(DecimalSyntaxError) as info:
        parse_decimals(f"1 2 {bad} 4".encode(), "float32")
    assert info.value.token_index == 2
    assert info.value.token == bad
