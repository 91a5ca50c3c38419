"""Checks every public layer must pass, written once for the whole suite."""

import os

import keras
import numpy as np


def backend():
    return keras.config.backend()


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def assert_config_round_trip(layer):
    """`from_config(get_config())` rebuilds a layer with the identical config."""
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    return clone


def assert_saves_and_loads(model, inputs, directory, atol=0.0):
    """A model saved as `.keras` reloads and predicts the same outputs."""
    path = os.path.join(str(directory), "model.keras")
    before = model.predict(inputs, verbose=0)
    model.save(path)
    reloaded = keras.saving.load_model(path)
    after = reloaded.predict(inputs, verbose=0)
    for expected, actual in zip(keras.tree.flatten(before), keras.tree.flatten(after)):
        np.testing.assert_allclose(actual, expected, atol=atol, rtol=0)
    return reloaded


def assert_fit_step_changes_weights(model, x, y, loss="mse", jit_compile="auto"):
    """One `fit` step runs, gives a finite loss, and moves every trainable weight."""
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, jit_compile=jit_compile)
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [to_numpy(w) for w in model.trainable_weights]
    for weight, old, new in zip(model.trainable_weights, before, after):
        assert not np.array_equal(old, new), f"{weight.path} did not change"


def jit_compile_supported():
    """`jit_compile=True` means XLA on JAX and TensorFlow; torch compiles lazily."""
    return backend() in ("jax", "tensorflow")


def compiled(fn):
    """`fn` traced by the backend's compiler, so tensor values are unknown inside."""
    if backend() == "jax":
        import jax

        return jax.jit(fn)
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    import torch

    # A fresh dynamo cache: after a few recompiles of the same code (the whole suite
    # compiles layer calls many times) dynamo falls back to eager, where values are known.
    torch._dynamo.reset()
    return torch.compile(fn, backend="eager", fullgraph=False)
