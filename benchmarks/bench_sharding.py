"""Per-device memory of a sharded table: `embedding_layout_map` on 8 virtual CPU devices.

Builds `keras_embed.layers.Embedding(rows, 64)` under
`keras.distribution.ModelParallel` with `embedding_layout_map` on a mesh of 8
devices and reports the bytes each device holds (the largest, summed over its
shards), against the whole table, which is what each device holds without
sharding (`keras.layers.Embedding` under `DataParallel` replicates it; the
peer figure is its size, not allocated 8 times here). The second row uses a
row count 8 does not divide: keras' own `Embedding` with a hand-written
`LayoutMap` refuses it (JAX's "should evenly divide the shape"); ours pads it
to the next multiple of 8.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_sharding.py [--quick]
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
DEVICES_FLAG = "--xla_force_host_platform_device_count=8"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DEVICES_FLAG}".strip()
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
from _timing import HEADER, benchmark_parser, row  # noqa: E402

from keras_embed.distribution import embedding_layout_map  # noqa: E402
from keras_embed.layers import Embedding  # noqa: E402

WIDTH = 64
FULL_ROWS = 10_000_000
QUICK_ROWS = 100_000


def per_device_megabytes(rows):
    """Largest bytes one device holds of a sharded `(rows, 64)` table, and the table's size."""
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((len(devices),), ("model",), devices)
    layout_map = embedding_layout_map([Embedding(rows, WIDTH, name="table")], mesh)
    keras.utils.clear_session()
    with keras.distribution.ModelParallel(layout_map=layout_map).scope():
        table = Embedding(rows, WIDTH, name="table")
        table.build()
    held = {}
    for shard in table.embeddings.value.addressable_shards:
        held[shard.device] = held.get(shard.device, 0) + shard.data.nbytes
    whole = rows * WIDTH * 4
    del table
    keras.utils.clear_session()
    return max(held.values()) / 2**20, whole / 2**20, len(held)


def keras_refuses_uneven_rows(rows):
    """Whether keras' Embedding with a hand-written row LayoutMap fails on `rows`."""
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((len(devices),), ("model",), devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*keras_table/embeddings"] = ("model", None)
    try:
        with keras.distribution.ModelParallel(layout_map=layout_map).scope():
            keras.layers.Embedding(rows, WIDTH, name="keras_table").build()
    except ValueError as error:
        return "evenly divide" in str(error) or "divisible" in str(error)
    return False


def main():
    args = benchmark_parser().parse_args()
    if not args.no_header:
        print(HEADER)
    rows = QUICK_ROWS if args.quick else FULL_ROWS
    ours, whole, devices = per_device_megabytes(rows)
    print(row(f"{rows:,} x {WIDTH} table, memory per device on {devices} devices (peer: whole table)", ours, whole, unit="MB"))
    uneven = rows + 1
    ours, whole, devices = per_device_megabytes(uneven)
    refused = "keras refuses it" if keras_refuses_uneven_rows(QUICK_ROWS + 1) else "keras accepts it"
    print(
        row(
            f"{uneven:,} x {WIDTH} table (padded to {-(-uneven // devices) * devices:,} rows; "
            f"{refused}), memory per device on {devices} devices (peer: whole table)",
            ours,
            whole,
            unit="MB",
        )
    )


if __name__ == "__main__":
    main()
