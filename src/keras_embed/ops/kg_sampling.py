"""Negative sampling for knowledge graphs: corrupting the head or the tail of triples.

`bernoulli_head_probabilities` (numpy, once per training set) gives, per relation,
the probability of replacing the head rather than the tail (Wang et al., 2014);
`corrupt_triples` draws the negatives inside the training step with `keras.random`.
Uniform corruption is the same draw with probability 1/2 for every relation.
"""

import keras
import numpy as np
from keras import ops


def bernoulli_head_probabilities(triples, num_relations):
    """Per relation, `tph / (tph + hpt)`: the probability of corrupting the head.

    `tph` is the mean number of distinct tails per head of the relation and `hpt`
    the mean number of distinct heads per tail (Wang et al., 2014, "TransH"), so a
    one-to-many relation mostly corrupts its head, where a random entity is
    unlikely to make a true triple. Relations without triples get 1/2.

    Args:
        triples: `(count, 3)` integer array of `(head, relation, tail)` ids.
        num_relations: number of relations.

    Returns:
        `(num_relations,)` float32 array.
    """
    triples = np.unique(np.asarray(triples, dtype=np.int64).reshape(-1, 3), axis=0)
    triple_count = np.bincount(triples[:, 1], minlength=num_relations).astype(np.float64)
    # Triples are unique, so a relation's tph is its triple count over its distinct
    # heads, and its hpt that count over its distinct tails.
    relation_heads = np.unique(triples[:, [1, 0]], axis=0)[:, 0]
    relation_tails = np.unique(triples[:, 1:], axis=0)[:, 0]
    distinct_heads = np.bincount(relation_heads, minlength=num_relations).astype(np.float64)
    distinct_tails = np.bincount(relation_tails, minlength=num_relations).astype(np.float64)
    probabilities = np.full(num_relations, 0.5)
    seen = triple_count > 0
    tails_per_head = triple_count[seen] / distinct_heads[seen]
    heads_per_tail = triple_count[seen] / distinct_tails[seen]
    probabilities[seen] = tails_per_head / (tails_per_head + heads_per_tail)
    return probabilities.astype(np.float32)


def corrupt_triples(triples, num_negatives, num_entities, head_probabilities, seed):
    """`num_negatives` corruptions of each triple, replacing its head or its tail.

    The replacing entity is uniform over the other `num_entities - 1` entities, so
    a negative never repeats its positive. Whether the head is replaced is drawn
    per negative with the probability of the triple's relation.

    Args:
        triples: `(batch, 3)` int32 tensor of `(head, relation, tail)` ids.
        num_negatives: negatives per triple.
        num_entities: number of entities (at least 2).
        head_probabilities: `(num_relations,)` float tensor.
        seed: a `keras.random.SeedGenerator`.

    Returns:
        `(batch, num_negatives, 3)` int32 tensor.
    """
    triples = ops.cast(triples, "int32")
    shape = (ops.shape(triples)[0], num_negatives)
    heads, relations, tails = triples[:, :1], triples[:, 1:2], triples[:, 2:]
    replace_head = keras.random.uniform(shape, seed=seed) < ops.expand_dims(
        ops.take(head_probabilities, relations[:, 0], axis=0), -1
    )
    replaced = ops.where(replace_head, heads, tails)
    drawn = keras.random.randint(shape, 0, num_entities - 1, seed=seed, dtype="int32")
    # Skipping over the replaced entity makes the draw uniform over the others.
    drawn = drawn + ops.cast(drawn >= replaced, "int32")
    relations = ops.broadcast_to(relations, shape)
    return ops.stack(
        [ops.where(replace_head, drawn, heads), relations, ops.where(replace_head, tails, drawn)],
        axis=-1,
    )
