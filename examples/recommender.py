"""A recommender with 10M users trained row-sparsely: `Embedding(sparse=True)` + keras_embed Adam.

The click log is synthetic, and says so: every user and item gets a planted
16-dimensional taste vector; item popularity and user activity follow power
laws (Zipf); a click picks, among 20 items drawn by popularity, the one with the
highest `<user, item> / temperature + Gumbel noise`. So there is a signal beyond
popularity for the model to find, and a popularity baseline to beat.

The model is a two-tower dot product trained with a sampled softmax (the clicked
item against negatives drawn by popularity). Both tables are `sparse=True`: each
step updates only the rows of its users and items, so the 10M-row user table costs
its memory (table + two Adam moments) but no time per step.

We report recall@10 on held-out clicks (each evaluated user's last click, scored
against every item) for the model and for "recommend the 10 most popular items",
plus the median training step time.

    KERAS_BACKEND=jax python examples/recommender.py              # 10M users, ~2 minutes
    KERAS_BACKEND=jax python examples/recommender.py --users 100000 --clicks 200000
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_embed  # noqa: E402
from keras_embed.layers import Embedding  # noqa: E402
from keras_embed.losses import sampled_softmax_loss  # noqa: E402

TASTE_DIM = 16
CANDIDATES = 20


def zipf_weights(count, exponent, rng):
    """Power-law weights over `count` ids, in a random order (id 0 is not the most popular)."""
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def click_log(users, items, clicks, temperature, seed=0):
    """`(user_ids, item_ids, popularity)`: `clicks` synthetic clicks in time order."""
    rng = np.random.default_rng(seed)
    popularity = zipf_weights(items, 1.0, rng)
    activity = zipf_weights(users, 0.8, rng)
    item_taste = rng.normal(size=(items, TASTE_DIM)).astype("float32") / np.sqrt(TASTE_DIM)
    user_ids = rng.choice(users, size=clicks, p=activity).astype("int32")
    # Tastes only for the users who click: 10M x 16 floats would be 640 MB.
    active, slot = np.unique(user_ids, return_inverse=True)
    user_taste = rng.normal(size=(len(active), TASTE_DIM)).astype("float32")
    item_ids = np.empty(clicks, "int32")
    for start in range(0, clicks, 200_000):
        stop = min(start + 200_000, clicks)
        candidates = rng.choice(items, size=(stop - start, CANDIDATES), p=popularity)
        affinity = np.einsum("nd,ncd->nc", user_taste[slot[start:stop]], item_taste[candidates])
        noisy = affinity / temperature + rng.gumbel(size=affinity.shape)
        item_ids[start:stop] = candidates[np.arange(stop - start), noisy.argmax(1)]
    return user_ids, item_ids, popularity


def split_last_clicks(user_ids, evaluated_users, min_clicks, seed=0):
    """Hold out the last click of up to `evaluated_users` users with >= `min_clicks` clicks.

    Returns `(keep, held)`: a mask of the training clicks and the held-out positions.
    """
    rng = np.random.default_rng(seed + 1)
    positions = np.arange(len(user_ids))
    last = np.full(user_ids.max() + 1, -1)
    np.maximum.at(last, user_ids, positions)
    counts = np.bincount(user_ids)
    eligible = np.flatnonzero(counts >= min_clicks)
    chosen = rng.choice(eligible, size=min(evaluated_users, len(eligible)), replace=False)
    held = last[chosen]
    keep = np.ones(len(user_ids), bool)
    keep[held] = False
    return keep, held


class TwoTower(keras.Model):
    """Score = <user row, item row> + item bias; the clicked item is column 0 of `item_ids`.

    The model returns each click's sampled-softmax loss
    (`keras_embed.losses.sampled_softmax_loss`): every logit minus `log q(item)`,
    the log-probability of drawing the item as a negative (the logQ correction,
    Bengio and Senecal 2008), so popular items are not demoted for being sampled
    often; a negative that is the clicked item itself is masked out.
    """

    def __init__(self, users, items, dim, batch, negatives, **kwargs):
        super().__init__(**kwargs)
        self.users = Embedding(users, dim, sparse=True, sparse_capacity=batch, name="users",
                               embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05))
        self.items = Embedding(items, dim, sparse=True, sparse_capacity=batch * (1 + negatives),
                               name="items",
                               embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05))
        # An item bias learns popularity, so the dot product can learn taste.
        self.item_bias = Embedding(items, 1, sparse=True, sparse_capacity=batch * (1 + negatives),
                                   name="item_bias", embeddings_initializer="zeros")

    def call(self, inputs):
        user_ids, item_ids, log_proposal = inputs
        # (batch, dim) x (batch, 1 + negatives, dim) -> (batch, 1 + negatives)
        scores = ops.einsum("bd,bkd->bk", self.users(user_ids), self.items(item_ids))
        scores = scores + ops.squeeze(self.item_bias(item_ids), -1)
        return sampled_softmax_loss(
            scores[:, 0], scores[:, 1:],
            negative_log_q=log_proposal[:, 1:], positive_log_q=log_proposal[:, 0],
            positive_ids=item_ids[:, 0], negative_ids=item_ids[:, 1:],
        )


def recall_at_10(scores, held_items):
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return float(np.mean([item in row for item, row in zip(held_items, top)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--clicks", type=int, default=3_000_000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--negatives", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--temperature", type=float, default=0.25)
    parser.add_argument("--evaluated-users", type=int, default=5000)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    user_ids, item_ids, popularity = click_log(args.users, args.items, args.clicks, args.temperature)
    keep, held = split_last_clicks(user_ids, args.evaluated_users, min_clicks=5)
    train_users, train_items = user_ids[keep], item_ids[keep]
    print(f"click log: {args.clicks:,} clicks, {len(np.unique(user_ids)):,} of {args.users:,} users "
          f"click, {args.items:,} items; {len(held):,} held-out last clicks "
          f"({time.perf_counter() - started:.0f} s)")

    # Negatives drawn by training popularity (a sampled softmax's usual proposal).
    train_popularity = np.bincount(train_items, minlength=args.items).astype("float64")
    train_popularity /= train_popularity.sum()
    rng = np.random.default_rng(2)
    steps = len(train_users) // args.batch
    model = TwoTower(args.users, args.items, args.dim, args.batch, args.negatives)
    model.compile(
        optimizer=keras_embed.optimizers.Adam(args.learning_rate),
        loss=lambda _, click_losses: click_losses,  # The model's output is already the loss.
    )
    labels = np.zeros((args.batch,), "float32")  # Unused: the model returns its loss.
    step_times = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_users))
        losses = []
        for step in range(steps):
            batch = order[step * args.batch:(step + 1) * args.batch]
            negatives = rng.choice(args.items, size=(args.batch, args.negatives), p=train_popularity)
            items = np.concatenate([train_items[batch, None], negatives], axis=1).astype("int32")
            tick = time.perf_counter()
            log_proposal = np.log(train_popularity[items] + 1e-12).astype("float32")
            logs = model.train_on_batch(
                (train_users[batch], items, log_proposal), labels, return_dict=True
            )
            step_times.append(time.perf_counter() - tick)
            losses.append(logs["loss"])
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, {steps} steps, "
              f"median step {1000 * np.median(step_times[-steps:]):.1f} ms")

    item_table = ops.convert_to_numpy(model.items.embeddings)
    held_users = ops.convert_to_numpy(ops.take(model.users.embeddings, user_ids[held], axis=0))
    item_bias = ops.convert_to_numpy(model.item_bias.embeddings)[:, 0]
    model_recall = recall_at_10(held_users @ item_table.T + item_bias, item_ids[held])
    top_popular = np.argsort(-train_popularity)[:10]
    popular_recall = float(np.mean(np.isin(item_ids[held], top_popular)))
    print(f"recall@10 on {len(held):,} held-out clicks: model {model_recall:.3f}, "
          f"popularity baseline {popular_recall:.3f}")
    print(f"median train step {1000 * np.median(step_times):.1f} ms "
          f"(batch {args.batch} users, {args.batch * (1 + args.negatives):,} item lookups), "
          f"total {time.perf_counter() - started:.0f} s on backend {keras.config.backend()}")


if __name__ == "__main__":
    main()
