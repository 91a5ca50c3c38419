"""`evaluate_link_prediction`: filtered, both-sided, realistic ranks of test triples."""

import numpy as np
from keras import ops

from keras_embed._validation import check_positive_int
from keras_embed.models.knowledge_graph_embedding import check_triple_ids


def _known_answers(filter_ids, query_columns, answer_column):
    """`{query: array of answers}` over the filter triples, e.g. `(head, relation) -> tails`."""
    answers = {}
    for row in filter_ids:
        answers.setdefault((int(row[query_columns[0]]), int(row[query_columns[1]])), []).append(
            int(row[answer_column])
        )
    return {query: np.unique(values) for query, values in answers.items()}


def realistic_ranks(scores, targets, excluded):
    """Realistic ranks of `targets` among `scores`, leaving out the `excluded` candidates.

    The realistic rank is the mean of the optimistic rank (1 + candidates scoring
    strictly higher) and the pessimistic rank (candidates scoring at least as high,
    the target included), so ties cost half their size (PyKEEN's "realistic").

    Args:
        scores: `(batch, num_entities)` float numpy array.
        targets: `(batch,)` ids of the true entities.
        excluded: `(batch, num_entities)` bool array, True for candidates to leave
            out (the other known true answers); the target itself is never left out.

    Returns:
        `(batch,)` float64 ranks.
    """
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets][:, None]
    excluded = excluded.copy()
    excluded[rows, targets] = False
    higher = np.sum((scores > target_scores) & ~excluded, axis=1)
    at_least = np.sum((scores >= target_scores) & ~excluded, axis=1)
    return ((higher + 1) + at_least) / 2.0


def _excluded(batch_queries, answers, num_entities):
    mask = np.zeros((len(batch_queries), num_entities), dtype=bool)
    for row, query in enumerate(batch_queries):
        known = answers.get((int(query[0]), int(query[1])))
        if known is not None:
            mask[row, known] = True
    return mask


def evaluate_link_prediction(model, test_triples, filter_triples=None, batch_size=256,
                             hits_at=(1, 3, 10), return_ranks=False):
    """Rank every test triple's head and tail against all entities; MRR and Hits@k.

    For a test triple `(h, r, t)` the model scores `(h, r, e)` and `(e, r, t)`
    for every entity `e`, `batch_size` test triples at a time. In the filtered
    setting (Bordes et al., 2013) candidates that form a triple of
    `filter_triples` (other than the test triple itself) are left out. Ties are
    ranked realistically: the mean of the optimistic and pessimistic ranks.
    Metrics average the head and the tail ranks of all test triples.

    Args:
        model: a `KnowledgeGraphEmbedding` (anything with `score_heads`,
            `score_tails` and `num_entities`, `num_relations`).
        test_triples: `Triples` or a `(count, 3)` integer array of ids.
        filter_triples: None (raw ranks), or `Triples`/an array, or a list of them
            (typically train, valid and test) whose triples are filtered out.
        batch_size: positive number of test triples scored at once.
        hits_at: the `k` of the Hits@k reported.
        return_ranks: also return `"head_ranks"` and `"tail_ranks"` arrays.

    Returns:
        A dict with `"mrr"`, `"mean_rank"` and `"hits@k"` for each `k`
        (Python floats), and the rank arrays if asked.

    Example:

    >>> import numpy as np
    >>> from keras_embed.models import KnowledgeGraphEmbedding
    >>> triples = np.array([[0, 0, 1], [1, 0, 2], [2, 0, 3]])
    >>> model = KnowledgeGraphEmbedding(4, 1, dim=4, interaction="transe")
    >>> metrics = evaluate_link_prediction(model, triples, filter_triples=triples)
    >>> sorted(metrics)
    ['hits@1', 'hits@10', 'hits@3', 'mean_rank', 'mrr']
    """
    sizes = (model.num_entities, model.num_relations)
    test_ids = check_triple_ids("test_triples", test_triples, *sizes)
    batch_size = check_positive_int("batch_size", batch_size)
    if filter_triples is None:
        filter_ids = np.zeros((0, 3), dtype=np.int32)
    else:
        if hasattr(filter_triples, "ids") or isinstance(filter_triples, np.ndarray):
            filter_triples = [filter_triples]
        filter_ids = np.concatenate(
            [check_triple_ids("filter_triples", part, *sizes) for part in filter_triples]
        )
    known_tails = _known_answers(filter_ids, (0, 1), 2)
    known_heads = _known_answers(filter_ids, (1, 2), 0)
    head_ranks, tail_ranks = [], []
    for start in range(0, len(test_ids), batch_size):
        batch = test_ids[start : start + batch_size]
        tail_scores = ops.convert_to_numpy(model.score_tails(batch[:, 0], batch[:, 1]))
        head_scores = ops.convert_to_numpy(model.score_heads(batch[:, 1], batch[:, 2]))
        if not (np.isfinite(tail_scores).all() and np.isfinite(head_scores).all()):
            raise ValueError(
                "The model scored some candidates as NaN or infinite: its embeddings "
                "have diverged (try a lower learning rate)."
            )
        tail_ranks.append(realistic_ranks(
            tail_scores, batch[:, 2], _excluded(batch[:, :2], known_tails, sizes[0])
        ))
        head_ranks.append(realistic_ranks(
            head_scores, batch[:, 0], _excluded(batch[:, 1:], known_heads, sizes[0])
        ))
    head_ranks, tail_ranks = np.concatenate(head_ranks), np.concatenate(tail_ranks)
    ranks = np.concatenate([head_ranks, tail_ranks])
    metrics = {"mrr": float(np.mean(1.0 / ranks)), "mean_rank": float(np.mean(ranks))}
    for k in hits_at:
        metrics[f"hits@{k}"] = float(np.mean(ranks <= k))
    if return_ranks:
        metrics["head_ranks"], metrics["tail_ranks"] = head_ranks, tail_ranks
    return metrics
