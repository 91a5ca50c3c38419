"""Knowledge-graph triples from `head<TAB>relation<TAB>tail` files, with label maps.

`load_triples(train_path)` builds the label maps (labels sorted, ids from 0, as
PyKEEN numbers them) from the training file; `load_triples(test_path,
train.entity_to_id, train.relation_to_id)` applies them to a validation or test
file and refuses a label the training file never had. Numpy only: no backend.
"""

import os

import numpy as np

from keras_embed._validation import describe


class Triples:
    """Integer triples and the label maps that number them.

    Args:
        ids: `(count, 3)` integer array of `(head, relation, tail)` ids.
        entity_to_id: dict from entity label to id in `[0, num_entities)`.
        relation_to_id: dict from relation label to id in `[0, num_relations)`.

    Attributes:
        ids: the `(count, 3)` int32 array.
        entity_to_id, relation_to_id: the label maps.
        num_entities, num_relations: the sizes of the maps.
        entity_labels, relation_labels: labels in id order.

    Example:

    >>> triples = Triples([[0, 0, 1]], {"paris": 0, "france": 1}, {"capital_of": 0})
    >>> triples.num_entities, len(triples)
    (2, 1)
    """

    def __init__(self, ids, entity_to_id, relation_to_id):
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] != 3 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                "`ids` must be an integer array of shape (count, 3). Received: array of "
                f"shape {ids.shape} and dtype {ids.dtype}."
            )
        self.entity_to_id = dict(entity_to_id)
        self.relation_to_id = dict(relation_to_id)
        for name, column, size in (
            ("head", 0, self.num_entities),
            ("relation", 1, self.num_relations),
            ("tail", 2, self.num_entities),
        ):
            values = ids[:, column]
            if len(values) and (values.min() < 0 or values.max() >= size):
                raise ValueError(
                    f"`ids` must hold {name} ids in [0, {size}). Received: ids from "
                    f"{values.min()} to {values.max()} in column {column}."
                )
        self.ids = ids.astype(np.int32)

    @property
    def num_entities(self):
        return len(self.entity_to_id)

    @property
    def num_relations(self):
        return len(self.relation_to_id)

    @property
    def entity_labels(self):
        return _labels_in_id_order(self.entity_to_id)

    @property
    def relation_labels(self):
        return _labels_in_id_order(self.relation_to_id)

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        return (
            f"Triples({len(self)} triples, {self.num_entities} entities, "
            f"{self.num_relations} relations)"
        )


def _labels_in_id_order(label_to_id):
    labels = [None] * len(label_to_id)
    for label, index in label_to_id.items():
        labels[index] = label
    return labels


def _read_rows(path):
    """`[(line_number, head, relation, tail)]` of a triples file; blank lines are skipped."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3 or not all(field.strip() for field in fields):
                raise ValueError(
                    f"{path}, line {line_number}: expected 3 non-empty tab-separated fields "
                    f"(head, relation, tail). Received: {line!r} ({len(fields)} field"
                    f"{'s' if len(fields) != 1 else ''})."
                )
            rows.append((line_number, *(field.strip() for field in fields)))
    if not rows:
        raise ValueError(f"{path} holds no triples: the file is empty or only blank lines.")
    return rows


def _check_label_map(name, label_to_id):
    if not isinstance(label_to_id, dict) or sorted(label_to_id.values()) != list(
        range(len(label_to_id))
    ):
        raise ValueError(
            f"`{name}` must be a dict from label to the ids 0..n-1. "
            f"Received: {name}={describe(label_to_id)[:200]}."
        )
    return label_to_id


def load_triples(path, entity_to_id=None, relation_to_id=None):
    """Read a `head<TAB>relation<TAB>tail` file into `Triples`.

    Without label maps, they are built from the file: entities (heads and tails)
    and relations each sorted and numbered from 0. With them (from the training
    triples), the file is encoded with them, and a label they lack is an error
    naming it and its line: a model cannot score an entity it never learned.

    Args:
        path: the file, UTF-8, one triple per line (blank lines are skipped).
        entity_to_id: optional dict from entity label to id.
        relation_to_id: optional dict from relation label to id; given together
            with `entity_to_id`.

    Returns:
        `Triples`.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "train.txt"), "w") as f:
    ...     _ = f.write("paris\\tcapital_of\\tfrance\\nrome\\tcapital_of\\titaly\\n")
    >>> train = load_triples(os.path.join(folder, "train.txt"))
    >>> train.entity_labels
    ['france', 'italy', 'paris', 'rome']
    >>> train.ids.tolist()
    [[2, 0, 0], [3, 0, 1]]
    """
    path = os.fspath(path)
    if (entity_to_id is None) != (relation_to_id is None):
        raise ValueError(
            "`entity_to_id` and `relation_to_id` must be given together (both from the "
            f"training triples) or not at all. Received: entity_to_id="
            f"{'None' if entity_to_id is None else 'a dict'}, relation_to_id="
            f"{'None' if relation_to_id is None else 'a dict'}."
        )
    rows = _read_rows(path)
    if entity_to_id is None:
        entities = sorted({row[1] for row in rows} | {row[3] for row in rows})
        relations = sorted({row[2] for row in rows})
        entity_to_id = {label: index for index, label in enumerate(entities)}
        relation_to_id = {label: index for index, label in enumerate(relations)}
    else:
        _check_label_map("entity_to_id", entity_to_id)
        _check_label_map("relation_to_id", relation_to_id)
    ids = np.empty((len(rows), 3), dtype=np.int32)
    for row_index, (line_number, head, relation, tail) in enumerate(rows):
        for column, (kind, label, label_to_id) in enumerate(
            (("entity", head, entity_to_id), ("relation", relation, relation_to_id),
             ("entity", tail, entity_to_id))
        ):
            index = label_to_id.get(label)
            if index is None:
                raise ValueError(
                    f"{path}, line {line_number}: unknown {kind} {label!r}; the "
                    f"{kind} labels come from the training triples, which do not have it."
                )
            ids[row_index, column] = index
    return Triples(ids, entity_to_id, relation_to_id)
