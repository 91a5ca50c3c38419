"""Scores of int8 query codes against int8 row codes, for quantised search (numpy; torch's oneDNN when installed).

numpy has no integer matrix product on BLAS, so the portable form scores the
codes with float32 BLAS, which holds every product sum exactly while it stays
below 2**24 (`dim <= 1040` at the int8 peak 127), and is no faster than exact
float32 search. With torch installed, oneDNN's quantised matrix product runs
the same integer products with int8 SIMD (VNNI, or AMX tiles where the CPU has
them), several times faster, on row codes packed once into its blocked layout.
"""

import importlib.util

import numpy as np

BLOCK_ROWS = 1 << 14  # Rows scored per product, and per packed block of row codes.
QUERY_ZERO_POINT = 128  # oneDNN reads activations as uint8: query codes shifted by 128.


class Int8Rows:
    """`(count, dim)` int8 row codes with per-row scales (`codes ~ vectors * scales`).

    `products(query_codes, start, stop)` gives the `(q, stop - start)` float32
    scores `(query_codes @ codes[start:stop].T) / scales[start:stop]`, where
    `start` is a multiple of `BLOCK_ROWS`.

    Args:
        codes: `(count, dim)` int8.
        scales: `(count,)` positive float32.
        kernel: `"onednn"` (torch's quantised product) or `"numpy"`.
    """

    def __init__(self, codes, scales, kernel):
        self.codes = codes
        self.inverse_scales = (1.0 / scales).astype(np.float32)
        self.kernel = kernel
        self.shape = codes.shape
        self._packed = {}  # block start -> (packed oneDNN weights, inverse scales tensor)

    def products(self, query_codes, start, stop):
        if self.kernel == "numpy":
            scores = query_codes.astype(np.float32) @ self.codes[start:stop].astype(np.float32).T
            return np.multiply(scores, self.inverse_scales[start:stop], out=scores)
        import torch

        if start not in self._packed:
            block = torch.from_numpy(np.ascontiguousarray(self.codes[start:stop]))
            self._packed[start] = (
                torch.ops.onednn.qlinear_prepack(block, None),
                torch.from_numpy(self.inverse_scales[start:stop]),
                torch.zeros(stop - start, dtype=torch.int64),
            )
        weights, inverse_scales, zero_points = self._packed[start]
        shifted = torch.from_numpy((query_codes.astype(np.int16) + QUERY_ZERO_POINT).astype(np.uint8))
        scores = torch.ops.onednn.qlinear_pointwise(
            shifted, 1.0, QUERY_ZERO_POINT, weights, inverse_scales, zero_points,
            None, 1.0, 0, torch.float32, "none", [], "",
        )  # fmt: skip
        return scores.numpy()


def fastest_kernel(rows=None):
    """`"onednn"` when torch with oneDNN's quantised linear is installed (imported here), else `"numpy"`.

    Fewer than `BLOCK_ROWS` rows (`rows` given) stay on numpy: their search is
    quick either way, and does not pay for importing torch.
    """
    if (rows is not None and rows < BLOCK_ROWS) or importlib.util.find_spec("torch") is None:
        return "numpy"
    import torch

    usable = torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise")
    return "onednn" if usable else "numpy"
