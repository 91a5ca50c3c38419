"""Row-sparse training: keras_embed.optimizers against dense keras and torch SparseAdam.

Every sparse step uses the loss `mean over positions of <W, embedding(ids)>`
with `W` in multiples of 1/8 and 16 positions per batch, so every row gradient
is a sum of multiples of 1/128: exact in float32 whatever the summation order.
Then "exactly equal" compares update formulas, not rounding of sums.
"""

import os
import warnings

import keras
import numpy as np
import pytest
from keras import ops

import keras_embed
from keras_embed.layers import Embedding
from keras_embed.layers import EmbeddingBag
from keras_embed.layers import ReversibleEmbedding

ROWS, WIDTH, BATCH, LENGTH = 40, 4, 4, 4
# Ids with repeats within and across steps; rows 20.. are never looked up.
STEP_IDS = [
    np.array([[1, 2, 2, 3], [1, 1, 5, 7], [9, 2, 3, 3], [11, 12, 1, 0]]),
    np.array([[4, 4, 6, 8], [10, 1, 1, 1], [13, 14, 15, 4], [16, 16, 16, 2]]),
    np.array([[3, 17, 18, 19], [5, 5, 5, 5], [2, 9, 11, 13], [0, 19, 18, 17]]),
]


def dot_loss(y_true, y_pred):
    return ops.sum(ops.multiply(y_true, y_pred), axis=-1)


def step_weights(step):
    rng = np.random.default_rng(100 + step)
    return (rng.integers(-8, 9, (BATCH, LENGTH, WIDTH)) / 8).astype("float32")


def dense_gradient(ids, weights):
    """The table gradient of `dot_loss` (mean over the 16 positions), in numpy."""
    grad = np.zeros((ROWS, WIDTH), "float32")
    np.add.at(grad, ids.reshape(-1), weights.reshape(-1, WIDTH) / ids.size)
    return grad


def initial_table():
    return np.random.default_rng(7).normal(size=(ROWS, WIDTH)).astype("float32")


def sparse_model(optimizer, **layer_kwargs):
    layer = Embedding(ROWS, WIDTH, sparse=True, sparse_capacity=BATCH * LENGTH, **layer_kwargs)
    model = keras.Sequential([keras.Input(batch_shape=(BATCH, LENGTH), dtype="int32"), layer])
    model.compile(optimizer=optimizer, loss=dot_loss)
    table = initial_table()
    if layer.padding_idx is not None:
        table[layer.padding_idx] = 0
    layer.embeddings.assign(table)
    return model


def train_sparse(optimizer, steps=3, **layer_kwargs):
    model = sparse_model(optimizer, **layer_kwargs)
    for step in range(steps):
        model.train_on_batch(STEP_IDS[step], step_weights(step))
    return model


class OneHotTable(keras.layers.Layer):
    """A table looked up by a one-hot product: its gradient is the dense `(V, d)` one."""

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(ROWS, WIDTH), initializer="zeros")

    def call(self, ids):
        return ops.matmul(ops.one_hot(ops.cast(ids, "int32"), ROWS), self.embeddings)


def train_dense_keras(optimizer, steps=3):
    """keras' own optimizer on a dense table gradient, compiled the same way as ours."""
    layer = OneHotTable()
    model = keras.Sequential([layer])
    model.compile(optimizer=optimizer, loss=dot_loss)
    model.build((BATCH, LENGTH))
    layer.embeddings.assign(initial_table())
    for step in range(steps):
        model.train_on_batch(STEP_IDS[step], step_weights(step))
    return keras.ops.convert_to_numpy(layer.embeddings)


def table_of(model):
    return keras.ops.convert_to_numpy(model.layers[0].embeddings)


def slot(optimizer, name, table):
    return keras.ops.convert_to_numpy(getattr(optimizer, name)[optimizer._get_variable_index(table)])


# Dense variables: bit-for-bit keras


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SGD", {}),
        ("SGD", dict(momentum=0.9, nesterov=True)),
        ("Adagrad", {}),
        ("Adam", dict(amsgrad=True)),
        ("AdamW", {}),
    ],
)
def test_dense_variables_update_bit_for_bit_as_keras(name, kwargs):
    def run(optimizer):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        model.compile(optimizer=optimizer, loss="mse")
        rng = np.random.default_rng(0)
        for _ in range(3):
            model.train_on_batch(rng.normal(size=(8, 5)), rng.normal(size=(8, 2)))
        return [keras.ops.convert_to_numpy(w) for w in model.weights]

    ours = run(getattr(keras_embed.optimizers, name)(learning_rate=0.05, **kwargs))
    theirs = run(getattr(keras.optimizers, name)(learning_rate=0.05, **kwargs))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adam", "AdamW"])
def test_defaults_are_keras_defaults(name):
    ours = getattr(keras_embed.optimizers, name)().get_config()
    theirs = getattr(keras.optimizers, name)().get_config()
    ours.pop("name"), theirs.pop("name")
    assert ours == theirs


# Sparse tables against dense keras and torch


def test_sgd_on_sparse_table_equals_dense_keras_exactly():
    model = train_sparse(keras_embed.optimizers.SGD(0.5))
    np.testing.assert_array_equal(table_of(model), train_dense_keras(keras.optimizers.SGD(0.5)))


def test_adagrad_on_sparse_table_equals_dense_keras_exactly():
    model = train_sparse(keras_embed.optimizers.Adagrad(0.5))
    np.testing.assert_array_equal(table_of(model), train_dense_keras(keras.optimizers.Adagrad(0.5)))


def torch_sparse_adam_table(lr, steps=3, eps=1e-7):
    torch = pytest.importorskip("torch")
    embedding = torch.nn.Embedding(ROWS, WIDTH, sparse=True)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(initial_table()))
    optimizer = torch.optim.SparseAdam(embedding.parameters(), lr=lr, eps=eps)
    for step in range(steps):
        optimizer.zero_grad()
        out = embedding(torch.from_numpy(STEP_IDS[step]))
        loss = (out * torch.from_numpy(step_weights(step))).sum(-1).mean()
        loss.backward()
        optimizer.step()
    return embedding.weight.detach().numpy()


def test_adam_on_sparse_table_equals_torch_sparse_adam():
    model = train_sparse(keras_embed.optimizers.Adam(0.1))
    # Three steps of size ~0.1 divided by sqrt(v): float32 rounding of 1e-5 of a step.
    np.testing.assert_allclose(table_of(model), torch_sparse_adam_table(0.1), rtol=1e-5, atol=1e-5)


def test_adam_leaves_rows_and_moments_not_looked_up_unchanged():
    optimizer = keras_embed.optimizers.Adam(0.1)
    model = train_sparse(optimizer, steps=1)
    table = model.layers[0].embeddings
    before = [table_of(model), slot(optimizer, "_momentums", table), slot(optimizer, "_velocities", table)]
    model.train_on_batch(STEP_IDS[1], step_weights(1))
    after = [table_of(model), slot(optimizer, "_momentums", table), slot(optimizer, "_velocities", table)]
    untouched = np.setdiff1d(np.arange(ROWS), STEP_IDS[1])
    touched = np.unique(STEP_IDS[1])
    for old, new in zip(before, after):
        np.testing.assert_array_equal(new[untouched], old[untouched])
        assert not np.array_equal(new[touched], old[touched])


def test_sgd_momentum_is_lazy_on_sparse_tables():
    lr, momentum = 0.5, 0.9
    model = train_sparse(keras_embed.optimizers.SGD(lr, momentum=momentum))
    # numpy: keras' momentum formula on the rows each step looks up, nothing else.
    table, velocity = initial_table(), np.zeros((ROWS, WIDTH), "float32")
    for step in range(3):
        grad = dense_gradient(STEP_IDS[step], step_weights(step))
        rows = np.unique(STEP_IDS[step])
        velocity[rows] = velocity[rows] * np.float32(momentum) - grad[rows] * np.float32(lr)
        table[rows] = table[rows] + velocity[rows]
    np.testing.assert_allclose(table_of(model), table, rtol=1e-6, atol=1e-7)


def test_adamw_decays_only_rows_looked_up():
    lr, decay = 0.1, 0.5
    model = train_sparse(keras_embed.optimizers.AdamW(lr, weight_decay=decay), steps=1)
    # With beta_1 = 0.9, beta_2 = 0.999 the first Adam step is lr * g / (|g| + eps').
    expected = initial_table()
    grad = dense_gradient(STEP_IDS[0], step_weights(0))
    rows = np.unique(STEP_IDS[0])
    alpha = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    m, v = 0.1 * grad[rows], 0.001 * grad[rows] ** 2
    expected[rows] = expected[rows] * (1 - decay * lr) - m * alpha / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(table_of(model), expected, rtol=1e-5, atol=1e-6)


def test_padding_row_and_its_slots_stay_zero():
    optimizer = keras_embed.optimizers.Adam(0.1)
    model = train_sparse(optimizer, padding_idx=0)
    table = model.layers[0].embeddings
    assert np.all(table_of(model)[0] == 0)
    assert np.all(slot(optimizer, "_momentums", table)[0] == 0)
    assert np.all(slot(optimizer, "_velocities", table)[0] == 0)


def test_carrier_stays_zero_through_training():
    model = train_sparse(keras_embed.optimizers.Adam(0.1))
    assert np.all(keras.ops.convert_to_numpy(model.layers[0].row_gradient_carrier) == 0)


def test_plain_keras_optimizer_trains_sparse_table_densely_with_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = train_sparse(keras.optimizers.SGD(0.5))
    messages = [str(w.message) for w in caught if "keras_embed.optimizers" in str(w.message)]
    assert len(messages) == 1 and "keras_embed.optimizers.Adam" in messages[0]
    # keras on TensorFlow subtracts repeated rows one by one (IndexedSlices): rounding only.
    np.testing.assert_allclose(table_of(model), train_dense_keras(keras.optimizers.SGD(0.5)), rtol=1e-6)


def test_embedding_bag_sparse_table_equals_dense_keras_exactly():
    layer = EmbeddingBag(ROWS, WIDTH, combiner="sum", sparse=True, sparse_capacity=BATCH * LENGTH)
    model = keras.Sequential([layer])
    model.compile(optimizer=keras_embed.optimizers.SGD(0.5), loss=lambda t, p: ops.sum(t * p, -1))
    model.build((BATCH, LENGTH))
    layer.embeddings.assign(initial_table())
    weights = (np.arange(BATCH * WIDTH).reshape(BATCH, WIDTH) % 5 / 8).astype("float32")
    model.train_on_batch(STEP_IDS[0], weights)
    # Each id of bag b gets weights[b] / BATCH, once per occurrence.
    grad = np.zeros((ROWS, WIDTH), "float32")
    np.add.at(grad, STEP_IDS[0].reshape(-1), np.repeat(weights / BATCH, LENGTH, axis=0))
    np.testing.assert_array_equal(table_of(model), initial_table() - 0.5 * grad)


def test_sparse_table_trains_in_sequential_without_input():
    layer = Embedding(
        ROWS, WIDTH, embeddings_initializer="zeros", sparse=True, sparse_capacity=BATCH * LENGTH
    )
    model = keras.Sequential([layer])
    model.compile(optimizer=keras_embed.optimizers.SGD(0.5), loss=dot_loss)
    # Sequential traces float32 ids; the layer casts them as keras' Embedding does.
    model.fit(STEP_IDS[0].astype("float32"), step_weights(0), batch_size=BATCH, verbose=0)
    np.testing.assert_array_equal(table_of(model), -0.5 * dense_gradient(STEP_IDS[0], step_weights(0)))


# Everything around fit


def test_clipnorm_clips_the_summed_rows_as_keras_clips_the_dense_gradient():
    model = train_sparse(keras_embed.optimizers.SGD(0.5, clipnorm=0.05))
    expected = train_dense_keras(keras.optimizers.SGD(0.5, clipnorm=0.05))
    np.testing.assert_allclose(table_of(model), expected, rtol=1e-6, atol=1e-7)


def test_global_clipnorm_clips_the_summed_rows_as_keras_clips_the_dense_gradient():
    model = train_sparse(keras_embed.optimizers.Adagrad(0.5, global_clipnorm=0.05))
    expected = train_dense_keras(keras.optimizers.Adagrad(0.5, global_clipnorm=0.05))
    np.testing.assert_allclose(table_of(model), expected, rtol=1e-6, atol=1e-7)


def test_gradient_accumulation_applies_the_mean_of_the_micro_batches():
    optimizer = keras_embed.optimizers.SGD(0.5, gradient_accumulation_steps=2)
    model = train_sparse(optimizer, steps=1)
    np.testing.assert_array_equal(table_of(model), initial_table())
    model.train_on_batch(STEP_IDS[1], step_weights(1))
    mean_gradient = (
        dense_gradient(STEP_IDS[0], step_weights(0)) + dense_gradient(STEP_IDS[1], step_weights(1))
    ) / 2
    np.testing.assert_array_equal(table_of(model), initial_table() - 0.5 * mean_gradient)


def test_mixed_float16_loss_scaling_trains_like_float32():
    expected = table_of(train_sparse(keras_embed.optimizers.SGD(0.5)))
    keras.config.set_dtype_policy("mixed_float16")
    model = train_sparse(keras_embed.optimizers.SGD(0.5))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    np.testing.assert_allclose(table_of(model), expected, atol=2e-3)


def test_mixed_bfloat16_trains_sparse_table_in_float32(dtype_policy):
    model = train_sparse(keras_embed.optimizers.SGD(0.5))
    expected = train_dense_keras(keras.optimizers.SGD(0.5))
    np.testing.assert_allclose(table_of(model), expected, atol=1e-2 if dtype_policy != "float32" else 0)


def test_save_and_reload_keeps_table_and_optimizer_state(tmp_path):
    model = train_sparse(keras_embed.optimizers.Adam(0.1), steps=2)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, custom_objects={"dot_loss": dot_loss})
    assert isinstance(reloaded.optimizer, keras_embed.optimizers.Adam)
    for each in (model, reloaded):
        each.train_on_batch(STEP_IDS[2], step_weights(2))
    np.testing.assert_array_equal(table_of(reloaded), table_of(model))


def test_backup_and_restore_resumes_sparse_training(tmp_path):
    backup = keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    ids, weights = np.concatenate(STEP_IDS[:2]), np.concatenate([step_weights(0), step_weights(1)])
    model = sparse_model(keras_embed.optimizers.Adam(0.1))
    model.fit(ids, weights, batch_size=BATCH, epochs=1, verbose=0, callbacks=[backup])
    resumed = sparse_model(keras_embed.optimizers.Adam(0.1))
    resumed.fit(ids, weights, batch_size=BATCH, epochs=1, verbose=0, callbacks=[backup])
    # The backup says epoch 1 is done: the resumed model holds its weights and trains no more.
    np.testing.assert_array_equal(table_of(resumed), table_of(model))
    assert int(resumed.optimizer.iterations) == int(model.optimizer.iterations) == 2


# Refusals


def test_sparse_table_without_known_batch_size_asks_for_sparse_capacity():
    layer = Embedding(ROWS, WIDTH, sparse=True)
    with pytest.raises(ValueError, match="`sparse_capacity`"):
        layer.build((None, LENGTH))


def test_more_ids_than_the_capacity_raise_naming_both():
    model = sparse_model(keras_embed.optimizers.SGD(0.1))
    ids = np.zeros((BATCH * 2, LENGTH), "int32")
    with pytest.raises(ValueError, match=r"looked up 32 ids.*holds \(16"):
        model.train_on_batch(ids, np.zeros((BATCH * 2, LENGTH, WIDTH), "float32"))


def test_use_ema_is_refused_for_sparse_tables():
    with pytest.raises(ValueError, match="use_ema=True"):
        train_sparse(keras_embed.optimizers.Adam(0.1, use_ema=True), steps=1)


def test_reversible_embedding_refuses_sparse_with_tied_weights():
    with pytest.raises(ValueError, match="`sparse=True` needs `tie_weights=False`"):
        ReversibleEmbedding(ROWS, WIDTH, sparse=True)


def test_untied_reversible_embedding_trains_table_sparsely_and_reverse_matrix_densely():
    def train(sparse, optimizer):
        keras.utils.set_random_seed(5)
        layer = ReversibleEmbedding(ROWS, WIDTH, tie_weights=False, sparse=sparse)
        ids = keras.Input(batch_shape=(BATCH, LENGTH), dtype="int32")
        model = keras.Model(ids, layer(layer(ids), reverse=True))
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        for step in range(2):
            model.train_on_batch(STEP_IDS[step], (STEP_IDS[step] + 1) % ROWS)
        return [keras.ops.convert_to_numpy(w) for w in (layer.embeddings, layer.reverse_embeddings)]

    sparse_table, sparse_reverse = train(True, keras_embed.optimizers.SGD(0.5))
    dense_table, dense_reverse = train(False, keras.optimizers.SGD(0.5))
    np.testing.assert_allclose(sparse_table, dense_table, rtol=1e-6, atol=1e-7)
    # Dense SGD moves every column of the reverse matrix; so did ours.
    np.testing.assert_allclose(sparse_reverse, dense_reverse, rtol=1e-6, atol=1e-7)


def test_jax_train_step_updates_donated_buffers_without_a_table_sized_temporary():
    if keras.config.backend() != "jax":
        pytest.skip("donation and XLA memory analysis are JAX's")
    import jax

    rows, width, batch = 50_000, 16, 256
    model = keras.Sequential([keras.Input(batch_shape=(batch,), dtype="int32"), Embedding(rows, width, sparse=True)])
    model.compile(optimizer=keras_embed.optimizers.Adam(1e-3), loss="mse")
    ids = np.arange(batch, dtype="int32") * 7
    targets = np.ones((batch, width), "float32")
    model.train_on_batch(ids, targets)
    state = tuple(
        [v.value for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
    )
    # keras' JAX trainer jits its train step with the state donated, as here.
    memory = jax.jit(model.train_step, donate_argnums=0).lower(state, (ids, targets)).compile().memory_analysis()
    table_bytes = rows * width * 4
    assert memory.temp_size_in_bytes < table_bytes / 4
    # Table, first and second moments are written in place: their outputs alias their inputs.
    assert memory.alias_size_in_bytes >= 3 * table_bytes


# The torch backend's fused step (torch.unique, index_add_, index_copy_) against the portable one

FUSED_CASES = [
    ("SGD", {}),
    ("SGD", dict(momentum=0.9)),
    ("SGD", dict(momentum=0.9, nesterov=True)),
    ("SGD", dict(weight_decay=0.1)),
    ("Adagrad", {}),
    ("Adagrad", dict(clipnorm=0.05)),
    ("Adam", {}),
    ("Adam", dict(amsgrad=True)),
    ("Adam", dict(gradient_accumulation_steps=2)),
    ("AdamW", dict(weight_decay=0.5)),
]


def train_state(optimizer):
    """Table and every slot of the table after three steps (ids repeat within each step)."""
    model = train_sparse(optimizer)
    table = model.layers[0].embeddings
    slots = [
        keras.ops.convert_to_numpy(v)
        for v in optimizer.variables
        if tuple(v.shape) == (ROWS, WIDTH)
    ]
    return [table_of(model)] + slots


def test_fused_torch_step_is_chosen_on_torch_only():
    from keras_embed.ops import _backend

    kernels = _backend.row_sparse_kernels()
    assert (kernels is not None) == (keras.config.backend() == "torch")


@pytest.mark.parametrize("name, kwargs", FUSED_CASES)
def test_fused_torch_step_equals_portable_step(name, kwargs, monkeypatch):
    if keras.config.backend() != "torch":
        pytest.skip("the fused row-sparse step is torch's")
    from keras_embed.ops import _backend

    fused = train_state(getattr(keras_embed.optimizers, name)(0.1, **kwargs))
    monkeypatch.setattr(_backend, "row_sparse_kernels", lambda: None)
    portable = train_state(getattr(keras_embed.optimizers, name)(0.1, **kwargs))
    assert len(fused) == len(portable) > 0
    for fused_value, portable_value in zip(fused, portable):
        np.testing.assert_allclose(fused_value, portable_value, rtol=1e-6, atol=1e-7)


def test_fused_torch_adam_equals_torch_sparse_adam_over_ten_steps():
    if keras.config.backend() != "torch":
        pytest.skip("the fused row-sparse step is torch's")
    import torch

    rng = np.random.default_rng(3)
    # Few rows, many ids: every batch repeats ids.
    steps_ids = [rng.integers(0, ROWS, (BATCH, LENGTH)) for _ in range(10)]
    steps_weights = [(rng.integers(-8, 9, (BATCH, LENGTH, WIDTH)) / 8).astype("float32") for _ in range(10)]
    model = sparse_model(keras_embed.optimizers.Adam(0.05))
    embedding = torch.nn.Embedding(ROWS, WIDTH, sparse=True)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(initial_table()))
    peer = torch.optim.SparseAdam(embedding.parameters(), lr=0.05, eps=1e-7)
    for ids, weights in zip(steps_ids, steps_weights):
        model.train_on_batch(ids, weights)
        peer.zero_grad()
        loss = (embedding(torch.from_numpy(ids)) * torch.from_numpy(weights)).sum(-1).mean()
        loss.backward()
        peer.step()
    np.testing.assert_allclose(table_of(model), embedding.weight.detach().numpy(), rtol=1e-5, atol=1e-5)


def train_two_towers(sparse, optimizer, steps=3):
    """One table shared by two towers (looked up twice per step), trained on tower sums."""
    kwargs = dict(sparse=True, sparse_capacity=2 * BATCH * LENGTH) if sparse else {}
    table = Embedding(ROWS, WIDTH, **kwargs)
    left = keras.Input(batch_shape=(BATCH, LENGTH), dtype="int32")
    right = keras.Input(batch_shape=(BATCH, LENGTH), dtype="int32")
    model = keras.Model([left, right], keras.layers.Add()([table(left), table(right)]))
    model.compile(optimizer=optimizer, loss=dot_loss)
    table.embeddings.assign(initial_table())
    for step in range(steps):
        ids = [STEP_IDS[step], STEP_IDS[(step + 1) % len(STEP_IDS)]]
        model.train_on_batch(ids, step_weights(step))
    return keras.ops.convert_to_numpy(table.embeddings)


def test_sparse_table_looked_up_twice_per_step_trains_as_the_dense_step():
    # Both lookups' row gradients must be summed: ids shared by the towers get both.
    sparse = train_two_towers(True, keras_embed.optimizers.SGD(learning_rate=0.5))
    dense = train_two_towers(False, keras.optimizers.SGD(learning_rate=0.5))
    np.testing.assert_allclose(sparse, dense, rtol=1e-6, atol=1e-6)
    assert np.abs(dense - initial_table()).max() > 0.05  # the step did move the table


def test_sparse_table_looked_up_twice_needs_room_for_both_lookups():
    table = Embedding(ROWS, WIDTH, sparse=True, sparse_capacity=BATCH * LENGTH)
    left = keras.Input(batch_shape=(BATCH, LENGTH), dtype="int32")
    right = keras.Input(batch_shape=(BATCH, LENGTH), dtype="int32")
    model = keras.Model([left, right], keras.layers.Add()([table(left), table(right)]))
    model.compile(optimizer=keras_embed.optimizers.SGD(), loss=dot_loss)
    with pytest.raises(ValueError, match=r"after 16 ids of earlier lookups in this step.*`sparse_capacity` >= 32"):
        model.train_on_batch([STEP_IDS[0], STEP_IDS[1]], step_weights(0))


def test_fused_torch_carrier_gradient_equals_portable_carrier_gradient(monkeypatch):
    if keras.config.backend() != "torch":
        pytest.skip("the fused carrier node is torch's")
    import torch

    from keras_embed.ops import _backend
    from keras_embed.ops import row_sparse

    rng = np.random.default_rng(5)
    # Past 2**16 rows, so that an id's code has a high half.
    table = torch.from_numpy(rng.normal(size=(70_001, WIDTH)).astype("float32"))
    ids = torch.tensor([3, 70000, 0, 3, 39])
    updates = torch.tensor([True, True, False, True, True])
    weights = torch.from_numpy(rng.normal(size=(5, WIDTH)).astype("float32"))

    def rows_and_carrier_gradient():
        carrier = torch.zeros((8, WIDTH + row_sparse.CODE_COLUMNS), requires_grad=True)
        rows, code_loss = row_sparse.carrier_rows(table, carrier, ids, updates, first_slot=2)
        ((rows * weights).sum() + 0.5 * code_loss).backward()
        return rows.detach().numpy(), carrier.grad.numpy()

    fused = rows_and_carrier_gradient()
    monkeypatch.setattr(_backend, "row_sparse_kernels", lambda: None)
    portable = rows_and_carrier_gradient()
    for fused_value, portable_value in zip(fused, portable):
        np.testing.assert_array_equal(fused_value, portable_value)
    # Carrier rows 2..6 hold the weights and half the code of id + 1 (70001 = 1 * 2**16 + 4465).
    assert fused[1][3, WIDTH:].tolist() == [0.5, 4465 * 0.5, 0.5]
