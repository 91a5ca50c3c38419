"""The demo end to end on a tiny budget, plus its small helpers."""

import numpy as np
import pytest

from keras_embed import cli
from keras_embed.demo import run

# A few stdlib files and a tiny model keep one run to seconds on every backend.
TINY = dict(limit=40, steps=25, batch_size=16, hidden_size=32, num_layers=1, verbose=0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    lines = []
    report = run.run_demo(
        minutes=None,
        output_dir=str(folder / "out"),
        cache_dir=str(folder / "cache"),
        print_fn=lines.append,
        **TINY,
    )
    return report, lines, folder / "out"


def test_demo_training_lowers_held_out_loss(tiny_run):
    report, _, _ = tiny_run
    assert report["steps"] == TINY["steps"]
    assert report["loss_after"] < report["loss_before"] - 0.2


def test_demo_reloaded_model_predicts_the_same_logits(tiny_run):
    report, _, folder = tiny_run
    assert (folder / "model.keras").is_file()
    assert report["reload_difference"] <= 1e-5


def printed_row(lines, label):
    """The numbers after `label` in its table row: `[loss, accuracy %]` or `[accuracy %]`."""
    (line,) = [line for line in lines if line.strip().startswith(label + " ")]
    return [float(field.rstrip("%")) for field in line.split()[len(label.split()) :] if field != "-"]


def test_demo_prints_the_three_accuracies_it_reports(tiny_run):
    report, lines, _ = tiny_run
    assert printed_row(lines, "untrained model") == pytest.approx(
        [report["loss_before"], 100 * report["accuracy_before"]], abs=0.051
    )
    assert printed_row(lines, "unigram-frequency baseline") == pytest.approx(
        [100 * report["unigram_accuracy"]], abs=0.051
    )
    assert printed_row(lines, "trained model") == pytest.approx(
        [report["loss_after"], 100 * report["accuracy_after"]], abs=0.051
    )
    # A uniform guess over the vocabulary scores far below 1%; the baseline guesses one frequent word.
    assert 0 < report["unigram_accuracy"] < 1 and 0 <= report["accuracy_after"] <= 1


def test_demo_prints_five_real_neighbours_per_word(tiny_run):
    _, lines, _ = tiny_run
    start = lines.index("\nnearest neighbours by cosine in the token embedding table:")
    rows = [line.split(None, 2) for line in lines[start + 1 :] if line.startswith("  ")]
    assert rows and {label for _, label, _ in rows} == {"untrained", "trained"}
    for word, _, neighbours in rows:
        neighbours = neighbours.split(", ")
        assert len(set(neighbours)) == 5 and word not in neighbours
        assert not any(token.startswith("[") for token in neighbours)  # no reserved token


def test_demo_writes_plots_or_says_why_not(tiny_run):
    _, lines, folder = tiny_run
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert any("matplotlib is not installed" in line for line in lines)
    else:
        assert (folder / "loss_curve.png").stat().st_size > 1000
        assert (folder / "embedding_projection.png").stat().st_size > 1000


def test_demo_needs_a_budget():
    with pytest.raises(ValueError, match="budget"):
        run.run_demo(steps=None, minutes=None)


@pytest.mark.parametrize("flag", ["--steps=0", "--minutes=-1", "--batch-size=0"])
def test_cli_rejects_non_positive_budgets(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", flag])
    assert exit_info.value.code == 2
    assert flag.split("=")[0] in capsys.readouterr().err


def test_cosine_neighbours_ranks_by_angle_not_length():
    table = np.array(
        [
            [0.0, 0.0],  # reserved rows are never neighbours
            [0.0, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [1.0, 0.0],  # the query
            [10.0, 1.0],  # long but nearly parallel: first
            [0.1, 0.1],  # short, 45 degrees: second
            [-1.0, 0.0],  # opposite: last
        ]
    )
    tokens = ["[PAD]", "[UNK]", "[MASK]", "[SEP]", "query", "parallel", "diagonal", "opposite"]
    found = run.cosine_neighbours(table, tokens, ["query", "absent"], count=3)
    assert found == {"query": ["parallel", "diagonal", "opposite"]}


def test_training_budget_records_each_batch_loss_not_the_running_mean():
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign([[0.0]])
    # With a zero kernel the loss of a batch is the mean square of its targets.
    targets = np.array([[1.0], [1.0], [3.0], [3.0], [0.0], [0.0]])
    budget = run.TrainingBudget()
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    model.fit(np.zeros((6, 1)), targets, batch_size=2, epochs=2, verbose=0, shuffle=False,
              callbacks=[budget])
    np.testing.assert_allclose(budget.losses, [1.0, 9.0, 0.0] * 2, atol=1e-5)


def test_training_budget_stops_after_max_steps():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    budget = run.TrainingBudget(max_steps=3)
    model.fit(np.zeros((40, 2)), np.zeros((40, 1)), batch_size=2, epochs=5, verbose=0,
              callbacks=[budget])
    assert len(budget.losses) == 3


def test_fused_loss_trainer_matches_the_logits_loss_of_the_masked_lm():
    import keras

    from keras_embed.demo.model import FusedLossTrainer
    from keras_embed.demo.model import build_masked_lm

    keras.utils.set_random_seed(1)
    model = build_masked_lm(50, 12, hidden_size=16, num_heads=2, num_layers=1, dropout=0.0)
    trainer = FusedLossTrainer(model)
    rng = np.random.default_rng(0)
    token_ids = rng.integers(4, 50, size=(3, 12)).astype("int32")
    positions = np.array([[1, 5, 0], [2, 3, 11], [0, 4, 7]], "int32")
    targets = rng.integers(4, 50, size=(3, 3)).astype("int32")
    weights = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], "float32")

    logits = keras.ops.convert_to_numpy(model((token_ids, positions)))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    expected = -(picked * weights).sum() / weights.sum()
    inputs = (token_ids, positions)
    fused = trainer.compute_loss(inputs, targets, trainer(inputs), weights)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(fused)), expected, rtol=1e-5)
    # The trainer holds the masked LM's own variables, not copies.
    assert {id(v) for v in trainer.trainable_variables} == {id(v) for v in model.trainable_variables}


def test_demo_reports_the_int8_quantised_model_near_the_float_one(tiny_run):
    report, lines, _ = tiny_run
    assert any("model.quantize('int8')" in line for line in lines)
    assert np.isfinite(report["int8_loss"])
    # Weight-only int8 keeps about 2.5 decimal digits per weight: the accuracy barely moves.
    assert abs(report["int8_accuracy"] - report["accuracy_after"]) <= 0.02


def test_training_budget_draws_one_bar_over_the_steps_not_per_epoch(capsys):
    import keras

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = run.TrainingBudget(max_steps=6, verbose=2)
    x = np.ones((8, 3), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=100, callbacks=[budget], verbose=0)
    out = capsys.readouterr().out
    assert len(budget.losses) == 6
    assert "Epoch" not in out
    assert "6/6" in out


@pytest.mark.parametrize(
    "requested, environ, jax_installed, expected",
    [
        ("torch", {"KERAS_BACKEND": "tensorflow"}, True, "torch"),
        (None, {"KERAS_BACKEND": "tensorflow"}, True, "tensorflow"),
        (None, {}, True, "jax"),
        (None, {}, False, None),
    ],
)
def test_demo_backend_is_flag_then_environment_then_jax(
    requested, environ, jax_installed, expected, monkeypatch
):
    real_find_spec = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util,
        "find_spec",
        lambda name: (real_find_spec(name) if jax_installed else None) if name == "jax" else real_find_spec(name),
    )
    assert cli.choose_backend(requested, environ) == expected


def test_cli_rejects_an_unknown_backend(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--backend", "numpy"])
    assert exit_info.value.code == 2
    assert "--backend" in capsys.readouterr().err
