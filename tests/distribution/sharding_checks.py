"""Sharded-table checks on 8 virtual CPU devices, run as one subprocess.

`test_sharding.py` starts `python sharding_checks.py OUT.json` with
`XLA_FLAGS=--xla_force_host_platform_device_count=8` (the flag must be set
before JAX starts, so it cannot run inside the test process) and asserts on
the numbers written to OUT.json: every check records what it measured, the
test decides what passes.

Each model is built twice with the same layer names: once on one device (the
reference) and once under `keras.distribution.ModelParallel` with
`embedding_layout_map`, then given the reference's weights through a
`.weights.h5` file (saved unpadded, loaded padded).
"""

import contextlib
import json
import os
import sys
import tempfile
import traceback

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_embed.distribution import embedding_layout_map  # noqa: E402
from keras_embed.layers import Embedding  # noqa: E402
from keras_embed.layers import EmbeddingBag  # noqa: E402
from keras_embed.layers import MaskedLMHead  # noqa: E402
from keras_embed.layers import ReversibleEmbedding  # noqa: E402
from keras_embed.vectors import from_layer  # noqa: E402

D = 4  # small embedding size keeps a 50257-row table cheap
BATCH, LENGTH = 8, 6
MESHES = {"8": ((8,), ("model",)), "2x4": ((2, 4), ("batch", "model")), "4x2": ((4, 2), ("batch", "model"))}
VOCABULARIES = (64, 50257)  # 64 divides every mesh; 50257 divides none
RESULTS = {}
WORK = tempfile.mkdtemp()


def record(name):
    """Runs a check, storing what it returns or the error it raised."""

    def wrap(check):
        try:
            RESULTS[name] = check()
        except Exception:  # the test reports the traceback
            RESULTS[name] = {"error": traceback.format_exc()}
        return check

    return wrap


def language_model(vocabulary, tie_weights):
    """ids (B, L) -> logits (B, L, V) through a reversible table and a dense layer."""
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    table = ReversibleEmbedding(vocabulary, D, tie_weights=tie_weights, name="tokens")
    hidden = keras.layers.Dense(D, activation="tanh", name="mix")(table(ids))
    return keras.Model(ids, table(hidden, reverse=True), name="lm")


def lm_and_bag_model(vocabulary, tie_weights):
    """The language model beside a bag model on the same ids: (B, L) -> logits, (B, 1) scores."""
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    table = ReversibleEmbedding(vocabulary, D, tie_weights=tie_weights, name="tokens")
    hidden = keras.layers.Dense(D, activation="tanh", name="mix")(table(ids))
    bags = EmbeddingBag(vocabulary, D, combiner="mean", padding_idx=0, name="items")(ids)
    scores = keras.layers.Dense(1, name="score")(bags)
    return keras.Model(ids, [table(hidden, reverse=True), scores], name="lm_and_bags")


def head_model(vocabulary):
    """Masked-LM head with its own kernel and bias: (B, L, d), (B, 2) -> (B, 2, V)."""
    hidden = keras.Input((LENGTH, D), name="hidden")
    positions = keras.Input((2,), dtype="int32", name="positions")
    head = MaskedLMHead(vocabulary_size=vocabulary, activation=None, name="head")
    return keras.Model([hidden, positions], head(hidden, positions), name="mlm")


def lm_loss(logits, labels):
    return keras.ops.mean(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )


def lm_and_bag_loss(outputs, targets):
    (logits, scores), (labels, values) = outputs, targets
    return lm_loss(logits, labels) + keras.ops.mean(keras.ops.square(scores[:, 0] - values))


def head_loss(logits, labels):
    return lm_loss(logits, labels)


def outputs_loss_gradients(model, inputs, targets, loss_fn):
    """Outputs, loss and the gradient of every trainable variable, in one jitted call."""
    trainable = [v.value for v in model.trainable_variables]
    others = [v.value for v in model.non_trainable_variables]

    def compute(trainable, inputs, targets):
        outputs, _ = model.stateless_call(trainable, others, inputs)
        return loss_fn(outputs, targets), outputs

    (loss, outputs), gradients = jax.jit(jax.value_and_grad(compute, has_aux=True))(
        trainable, inputs, targets
    )
    flat = [np.asarray(output).ravel() for output in jax.tree_util.tree_leaves(outputs)]
    return np.concatenate(flat), float(loss), gradients


def build_sharded(make, mesh_name, data_axis=None):
    shape, names = MESHES[mesh_name]
    mesh = keras.distribution.DeviceMesh(shape, names, keras.distribution.list_devices())
    keras.utils.clear_session()
    layout_map = embedding_layout_map(make(), mesh, model_axis="model", data_axis=data_axis)
    distribution = keras.distribution.ModelParallel(
        layout_map=layout_map, batch_dim_name=names[0]
    )
    keras.utils.clear_session()
    with distribution.scope():
        model = make()
    return model, distribution


def unpadded_gradient(variable, gradient):
    """The gradient's logical rows, and the largest magnitude it puts on padding rows."""
    gradient = np.asarray(gradient)
    padding = getattr(variable, "_keras_embed_row_padding", None)
    if padding is None:
        return gradient, 0.0
    rows, axis = padding
    kept = np.take(gradient, np.arange(rows), axis=axis)
    dropped = np.take(gradient, np.arange(rows, gradient.shape[axis]), axis=axis)
    return kept, float(np.abs(dropped).max(initial=0.0))


def compare(make, loss_fn, inputs, targets, mesh_name, data_axis=None):
    """Max differences between the sharded and the one-device model, and the shard shapes."""
    keras.utils.clear_session()
    reference = make()
    keras.utils.set_random_seed(0)
    reference.set_weights(
        [np.random.default_rng(1).normal(size=w.shape).astype("float32") * 0.5 for w in reference.get_weights()]
    )
    expected_outputs, expected_loss, expected_gradients = outputs_loss_gradients(
        reference, inputs, targets, loss_fn
    )
    path = os.path.join(WORK, f"{reference.name}.weights.h5")
    reference.save_weights(path)
    model, _ = build_sharded(make, mesh_name, data_axis)
    model.load_weights(path)
    outputs, loss, gradients = outputs_loss_gradients(model, inputs, targets, loss_fn)
    gradient_error, padding_gradient = 0.0, 0.0
    for variable, gradient, expected in zip(model.trainable_variables, gradients, expected_gradients):
        kept, dropped = unpadded_gradient(variable, gradient)
        gradient_error = max(gradient_error, float(np.abs(kept - np.asarray(expected)).max()))
        padding_gradient = max(padding_gradient, dropped)
    tables = {}
    for variable in model.trainable_variables:
        if getattr(variable, "_keras_embed_row_padding", None) is not None or variable.path.split("/")[-1] in (
            "embeddings", "reverse_embeddings", "output_kernel", "output_bias"
        ):
            shards = variable.value.addressable_shards
            tables[variable.path] = {
                "stored_shape": list(variable.shape),
                "shard_shapes": sorted({tuple(s.data.shape) for s in shards}),
                "devices": len({s.device for s in shards}),
                "padding": getattr(variable, "_keras_embed_row_padding", None),
            }
    return {
        "output_error": float(np.abs(outputs - expected_outputs).max()),
        "output_scale": float(np.abs(expected_outputs).max()),
        "loss": loss,
        "expected_loss": expected_loss,
        "gradient_error": gradient_error,
        "gradient_scale": max(float(np.abs(np.asarray(g)).max()) for g in expected_gradients),
        "padding_gradient": padding_gradient,
        "tables": {k: {**v, "shard_shapes": [list(s) for s in v["shard_shapes"]]} for k, v in tables.items()},
        "weights_shapes": {
            layer.name: [list(w.shape) for w in layer.get_weights()]
            for layer in model.layers
            if type(layer).__name__ in ("ReversibleEmbedding", "EmbeddingBag", "MaskedLMHead")
        },
    }


rng = np.random.default_rng(0)
for vocabulary in VOCABULARIES:
    ids = rng.integers(1, vocabulary, size=(BATCH, LENGTH)).astype("int32")
    ids[:, -1] = 0  # the bag's padding id
    labels = rng.integers(0, vocabulary, size=(BATCH, LENGTH)).astype("int32")
    targets = rng.normal(size=(BATCH,)).astype("float32")
    for mesh_name in MESHES:
        data_axis = "batch" if mesh_name == "2x4" else None
        record(f"lm_and_bag/{mesh_name}/{vocabulary}")(
            lambda: compare(
                lambda: lm_and_bag_model(vocabulary, tie_weights=mesh_name != "4x2"),
                lm_and_bag_loss, ids, (labels, targets), mesh_name, data_axis,
            )
        )


@record("head/2x4/50257")
def _():
    hidden = rng.normal(size=(BATCH, LENGTH, D)).astype("float32")
    positions = rng.integers(0, LENGTH, size=(BATCH, 2)).astype("int32")
    labels = rng.integers(0, 50257, size=(BATCH, 2)).astype("int32")
    return compare(lambda: head_model(50257), head_loss, [hidden, positions], labels, "2x4")


@record("reverse_loss/8/50257")
def _():
    """The fused `reverse_loss` of a padded table equals the one-device loss."""
    vocabulary = 50257
    ids = rng.integers(0, vocabulary, size=(BATCH, LENGTH)).astype("int32")
    weights = np.random.default_rng(2).normal(size=(vocabulary, D)).astype("float32")
    values = {}
    for sharded in (False, True):
        keras.utils.clear_session()
        if sharded:
            model, _ = build_sharded(lambda: language_model(vocabulary, True), "8")
        else:
            model = language_model(vocabulary, True)
        table = model.get_layer("tokens")
        table.set_weights([weights])
        hidden = table(ids)
        values[sharded] = (
            float(table.reverse_loss(hidden, ids, chunk_size=16)),
            float(table.reverse_loss(hidden, ids, chunk_size=16, label_smoothing=0.1, z_loss=1e-3)),
        )
    return {"one_device": values[False], "sharded": values[True]}


@record("fit/2x4/50257")
def _():
    """One Adam step of `fit` on the sharded LM equals the same step on one device."""
    vocabulary = 50257
    ids = rng.integers(0, vocabulary, size=(BATCH, LENGTH)).astype("int32")
    labels = rng.integers(0, vocabulary, size=(BATCH, LENGTH)).astype("int32")
    keras.utils.clear_session()
    single = language_model(vocabulary, False)
    single.set_weights(
        [np.random.default_rng(3).normal(size=w.shape).astype("float32") for w in single.get_weights()]
    )
    path = os.path.join(WORK, "fit.weights.h5")
    single.save_weights(path)
    sharded, distribution = build_sharded(lambda: language_model(vocabulary, False), "2x4")
    sharded.load_weights(path)
    losses = []
    for model, scope in ((single, contextlib.nullcontext()), (sharded, distribution.scope())):
        # compile and fit where the model was built, as keras asks
        with scope:
            model.compile(
                optimizer=keras.optimizers.Adam(0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            history = model.fit(ids, labels, batch_size=BATCH, epochs=1, verbose=0)
        losses.append(float(history.history["loss"][0]))
    table = sharded.get_layer("tokens")
    return {
        "loss": losses,
        "weight_error": max(
            float(np.abs(a - b).max())
            for a, b in zip(
                [w for layer in single.layers for w in layer.get_weights()],
                [w for layer in sharded.layers for w in layer.get_weights()],
            )
        ),
        "shardings": [str(v.value.sharding.spec) for v in table.weights],
        "optimizer_slot_shardings": sorted(
            {str(v.value.sharding.spec) for v in sharded.optimizer.variables if len(v.shape) == 2}
        ),
        "padding_rows_max": float(
            np.abs(np.asarray(table.embeddings.value)[vocabulary:]).max(initial=0.0)
        ),
    }


@record("save/round_trips")
def _():
    """A `.keras` file saved sharded loads on one device, and the reverse."""
    vocabulary = 50257
    ids = rng.integers(0, vocabulary, size=(BATCH, LENGTH)).astype("int32")
    keras.utils.clear_session()
    single = language_model(vocabulary, False)
    single_outputs = np.asarray(single(ids))
    single_path = os.path.join(WORK, "single.keras")
    single.save(single_path)
    model, distribution = build_sharded(lambda: language_model(vocabulary, False), "4x2")
    with distribution.scope():
        sharded = keras.saving.load_model(single_path)
    table = sharded.get_layer("tokens")
    sharded_outputs = np.asarray(sharded(ids))
    sharded_path = os.path.join(WORK, "sharded.keras")
    sharded.save(sharded_path)
    keras.utils.clear_session()
    reloaded = keras.saving.load_model(sharded_path)
    return {
        "sharded_stored_shape": list(table.embeddings.shape),
        "sharded_reverse_stored_shape": list(table.reverse_embeddings.shape),
        "sharded_get_weights": [list(w.shape) for w in table.get_weights()],
        "sharded_vectors_shape": list(from_layer(table).matrix.shape),
        "sharded_vs_single": float(np.abs(sharded_outputs - single_outputs).max()),
        "reloaded_shapes": [list(v.shape) for v in reloaded.get_layer("tokens").weights],
        "reloaded_devices": len(reloaded.get_layer("tokens").embeddings.value.devices()),
        "reloaded_vs_single": float(np.abs(np.asarray(reloaded(ids)) - single_outputs).max()),
    }


def error_of(function):
    try:
        function()
    except ValueError as error:
        return str(error)
    return None


@record("errors")
def _():
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"), devices)
    flat = keras.distribution.DeviceMesh((8, 1), ("batch", "model"), devices)
    keras.utils.clear_session()
    table = ReversibleEmbedding(50257, D, name="tokens")
    errors = {
        "axis_not_in_mesh": error_of(lambda: embedding_layout_map([table], mesh, model_axis="vocab")),
        "data_axis_not_in_mesh": error_of(lambda: embedding_layout_map([table], mesh, data_axis="rows")),
        "same_axes": error_of(
            lambda: embedding_layout_map([table], mesh, model_axis="model", data_axis="model")
        ),
        "axis_of_size_one": error_of(lambda: embedding_layout_map([table], flat)),
        "no_tables": error_of(lambda: embedding_layout_map([keras.layers.Dense(3)], mesh)),
        "not_a_mesh": error_of(lambda: embedding_layout_map([table], (2, 4))),
    }
    # an embedding axis the data axis does not divide: only rows are padded
    layout_map = embedding_layout_map([ReversibleEmbedding(64, 3, name="odd")], mesh, data_axis="batch")
    with keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch").scope():
        errors["columns_not_divisible"] = error_of(lambda: ReversibleEmbedding(64, 3, name="odd").build())
    # A row-sparse table under a distribution that shards it (64 rows: no padding).
    sparse_map = embedding_layout_map([Embedding(64, 4, name="sparse_items")], mesh)
    with keras.distribution.ModelParallel(layout_map=sparse_map, batch_dim_name="batch").scope():
        table = Embedding(64, 4, name="sparse_items")
        table.sparse = True  # as Embedding(..., sparse=True) sets it
        errors["sparse_on_sharded"] = error_of(table.build)
    model, distribution = build_sharded(lambda: language_model(50257, True), "8")
    table = model.get_layer("tokens")
    errors["id_past_input_dim"] = error_of(lambda: table(np.array([[50257]], dtype="int32")))
    compiled = jax.jit(lambda values, ids: table.stateless_call(values, [], ids)[0])
    # Padding rows made non-zero, so only the id check can give zeros.
    ones = [np.ones(v.shape, "float32") for v in table.trainable_variables]
    padding_id_rows = compiled(ones, np.array([[50260]], "int32"))
    errors["compiled_padding_id_norm"] = float(np.abs(np.asarray(padding_id_rows)).max())
    errors["set_weights_wrong_shape"] = error_of(lambda: table.set_weights([np.zeros((50000, D))]))
    errors["lora_on_padded"] = error_of(lambda: table.enable_lora(2))
    errors["quantize_on_padded"] = error_of(lambda: table.quantize("int8"))
    return errors


if __name__ == "__main__":
    RESULTS["device_count"] = jax.device_count()
    with open(sys.argv[1], "w") as file:
        json.dump(RESULTS, file, indent=1, default=str)
