"""A language model whose tables are sharded across processes, with `jax.distributed`.

Run on one machine (two local CPU processes of 4 virtual devices each, 8 in all):

    python examples/multiprocess_sharding.py

The launcher starts two workers, each calling `keras.distribution.initialize`
(which calls `jax.distributed.initialize`), then runs the same training
steps on one process with 8 virtual devices and checks that both give the
same losses. On real hosts, start one worker per host instead:

    python examples/multiprocess_sharding.py --worker \\
        --coordinator HOST0:1234 --num-processes N --process-id I

with the same coordinator address on every host, and drop the
`XLA_FLAGS` device-count line, which only fakes devices on CPU.

Every process builds the same model under the same
`keras.distribution.ModelParallel`: the mesh `(batch, model)` puts the
processes along `batch` (each feeds its own slice of the global batch) and
the devices of a process along `model`, so each table is split into
4 row blocks, its 50257 rows padded to 50260 (see docs/sharding.md).
"""

import argparse
import os
import socket
import subprocess
import sys

VOCABULARY, WIDTH, LENGTH, GLOBAL_BATCH, STEPS = 50257, 16, 8, 8, 3
MESH = (2, 4)  # (batch, model): 8 devices in all, however many processes hold them


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def make_model(keras):
    from keras_embed.layers import ReversibleEmbedding

    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    tokens = ReversibleEmbedding(VOCABULARY, WIDTH, tie_weights=False, name="tokens")
    hidden = keras.layers.Dense(WIDTH, activation="tanh", name="mix")(tokens(ids))
    return keras.Model(ids, tokens(hidden, reverse=True), name="lm")


def global_batches():
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCABULARY, size=(STEPS * GLOBAL_BATCH, LENGTH + 1)).astype("int32")
    return ids[:, :-1], ids[:, 1:]


def train(process_id, num_processes):
    """Builds, shards and trains the model; returns the losses of every step."""
    import keras
    import numpy as np

    from keras_embed.distribution import embedding_layout_map

    devices = keras.distribution.list_devices()  # every process's devices
    mesh = keras.distribution.DeviceMesh(MESH, ("batch", "model"), devices)
    keras.utils.set_random_seed(0)  # same initial weights in every process
    layout_map = embedding_layout_map(make_model(keras), mesh)  # names: tokens, mix
    keras.utils.clear_session()  # so the model built again gets the same names
    distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    with distribution.scope():
        keras.utils.set_random_seed(0)
        model = make_model(keras)
        model.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        inputs, targets = global_batches()
        # Each process feeds its own rows of every global batch.
        local = GLOBAL_BATCH // num_processes
        losses = []
        for step in range(STEPS):
            rows = slice(step * GLOBAL_BATCH + process_id * local, step * GLOBAL_BATCH + (process_id + 1) * local)
            losses.append(float(model.train_on_batch(inputs[rows], targets[rows])))
    table = model.get_layer("tokens").embeddings
    shards = sorted({tuple(shard.data.shape) for shard in table.value.addressable_shards})
    print(
        f"process {process_id}: {len(devices)} devices, table stored {tuple(table.shape)}, "
        f"this process holds shards {shards}; losses {np.round(losses, 6).tolist()}",
        flush=True,
    )
    return losses


def worker(arguments):
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    # CPU collectives across processes go through gloo.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras

    keras.distribution.initialize(
        arguments.coordinator, arguments.num_processes, arguments.process_id
    )
    train(arguments.process_id, arguments.num_processes)


def launch():
    port = free_port()
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", "--coordinator", f"localhost:{port}",
             "--num-processes", "2", "--process-id", str(process_id)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for process_id in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in workers]
    for process, (stdout, stderr) in zip(workers, outputs):
        if process.returncode:
            sys.stderr.write(stderr[-3000:])
            raise SystemExit(f"a worker failed with exit code {process.returncode}")
        sys.stdout.write("".join(line for line in stdout.splitlines(True) if line.startswith("process")))
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    reference = subprocess.run(
        [sys.executable, __file__, "--one-process"], env=env, capture_output=True, text=True, timeout=600
    )
    if reference.returncode:
        sys.stderr.write(reference.stderr[-3000:])
        raise SystemExit("the one-process run failed")
    sys.stdout.write("one " + reference.stdout)
    two = [line.split("losses ")[1] for line in "".join(o[0] for o in outputs).splitlines() if "losses" in line]
    one = reference.stdout.split("losses ")[1].strip()
    same = all(losses.strip() == one for losses in two)
    print("two processes and one process give the same losses:", same)
    return 0 if same else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="run one process of a multi-process job")
    parser.add_argument("--one-process", action="store_true", help="the same job in this process alone")
    parser.add_argument("--coordinator", default="localhost:1234")
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--process-id", type=int, default=0)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
        return 0
    if arguments.one_process:
        os.environ["KERAS_BACKEND"] = "jax"
        train(0, 1)  # the same (2, 4) mesh, all 8 devices in this process
        return 0
    return launch()


if __name__ == "__main__":
    sys.exit(main())
