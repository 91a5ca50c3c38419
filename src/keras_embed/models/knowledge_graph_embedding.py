"""`KnowledgeGraphEmbedding`: TransE, DistMult, ComplEx and RotatE as one Keras model."""

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_choice
from keras_embed._validation import check_integer
from keras_embed._validation import check_number
from keras_embed._validation import check_positive_int
from keras_embed.ops.kg_interactions import get_kg_interaction
from keras_embed.ops.kg_sampling import bernoulli_head_probabilities
from keras_embed.ops.kg_sampling import corrupt_triples

CORRUPTIONS = ("uniform", "bernoulli")


def check_triple_ids(name, triples, num_entities, num_relations):
    """`triples` as a `(count, 3)` int32 numpy array of ids in range, else a `ValueError`."""
    triples = np.asarray(getattr(triples, "ids", triples))
    if triples.ndim != 2 or triples.shape[1] != 3 or not np.issubdtype(triples.dtype, np.integer):
        raise ValueError(
            f"`{name}` must be `Triples` or an integer array of shape (count, 3) holding "
            f"(head, relation, tail) ids. Received: array of shape {triples.shape} and "
            f"dtype {triples.dtype}."
        )
    if not len(triples):
        raise ValueError(f"`{name}` must hold at least one triple. Received: 0 triples.")
    for column, kind, size in ((0, "head", num_entities), (1, "relation", num_relations),
                               (2, "tail", num_entities)):
        values = triples[:, column]
        bad = np.flatnonzero((values < 0) | (values >= size))
        if len(bad):
            raise ValueError(
                f"`{name}` must hold {kind} ids in [0, {size}). Received: "
                f"{int(values[bad[0]])} at row {int(bad[0])}."
            )
    return triples.astype(np.int32)


@keras.saving.register_keras_serializable(package="keras_embed")
class KnowledgeGraphEmbedding(keras.Model):
    """Knowledge-graph embedding model: entity and relation tables and a scoring function.

    Scores a triple `(head, relation, tail)` of ids with one of the interactions
    of `keras_embed.ops.kg_interactions` (higher is more plausible):

    - `"transe"` (Bordes et al., 2013): `-||h + r - t||_p`.
    - `"distmult"` (Yang et al., 2015): `sum(h * r * t)`.
    - `"complex"` (Trouillon et al., 2016): `Re(sum(h * r * conj(t)))`.
    - `"rotate"` (Sun et al., 2019): `-||h * exp(i theta) - t||`, each relation a
      vector of phases, so of modulus 1.

    For `"complex"` and `"rotate"`, `dim` counts complex numbers (as PyKEEN's
    `embedding_dim` does): entity vectors hold `2 * dim` reals, real parts first.

    Training (`fit`) draws `num_negatives` corruptions of every true triple inside
    the training step, replacing its head or its tail by another entity: with
    probability 1/2 (`corruption="uniform"`), or per relation with Wang et al.'s
    (2014) `tph / (tph + hpt)` (`"bernoulli"`, read from the training triples by
    `adapt`, which `fit` calls on array input). The compiled loss receives
    `(batch, 1 + num_negatives)` scores, the true triple first: pass
    `KGMarginRankingLoss`, `KGSoftplusLoss` or `KGSelfAdversarialLoss` to
    `compile`. The negatives of a true triple share its relation, so its relation
    row is gathered once for all of them (RotatE's cos and sin are computed on
    the relation table, once per step).
    `relation_regularization` adds a ridge penalty on the relations of the batch:
    `relation_regularization * mean_b ||r_b||_2^2 / width`, the mean square of
    the elements of the batch's true triples' relation vectors (RotatE: of the
    phases), so the weight does not grow with `dim`. (PyKEEN's DistMult default
    penalizes the unsquared norm, `0.1 * mean ||r||_2`, over positives and
    negatives.) `evaluate_link_prediction` ranks the test triples.

    Args:
        num_entities: number of entities, at least 2.
        num_relations: positive number of relations.
        dim: positive embedding dimension (complex numbers for complex models).
        interaction: `"transe"`, `"distmult"`, `"complex"` or `"rotate"`.
        p_norm: 1 or 2, the norm of TransE and RotatE distances; None for 1 with
            TransE and 2 with RotatE. Sun et al.'s RotatE code sums the complex
            moduli (1); 2 is PyKEEN's choice and measured far ahead of 1 here
            (Kinships filtered MRR 0.772 against 0.504). Pass `p_norm=1` for the
            paper's distance. Defaults to None.
        num_negatives: corruptions per true triple in training. Defaults to 4.
        corruption: `"uniform"` or `"bernoulli"`. Defaults to `"uniform"`.
        entity_initializer: initializer of the entity table.
            Defaults to `"glorot_uniform"`.
        relation_initializer: initializer of the relation table; None for the
            interaction's default (uniform phases on `[-pi, pi)` for RotatE,
            `"glorot_uniform"` otherwise).
        entity_constraint: optional Keras constraint applied to the entity table
            after each update, e.g. `keras.constraints.UnitNorm(axis=1)`, the
            unit-norm entities of TransE.
        relation_regularization: non-negative weight of the relation penalty
            above; 0 adds none. Defaults to `0.0`.
        seed: optional integer seed of the negative sampler.
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        triples: integer tensor `(..., 3)` of `(head, relation, tail)` ids.

    Returns:
        Scores of shape `(...)`, float32 whatever the dtype policy.

    Example:

    >>> import numpy as np
    >>> from keras_embed.models import KGSoftplusLoss
    >>> triples = np.array([[0, 0, 1], [1, 0, 2], [2, 1, 0]])
    >>> model = KnowledgeGraphEmbedding(3, 2, dim=8, interaction="distmult", seed=0)
    >>> model.compile(optimizer="adam", loss=KGSoftplusLoss())
    >>> _ = model.fit(triples, epochs=2, batch_size=3, verbose=0)
    >>> tuple(model(triples).shape)
    (3,)
    """

    def __init__(
        self,
        num_entities,
        num_relations,
        dim,
        interaction="transe",
        p_norm=None,
        num_negatives=4,
        corruption="uniform",
        entity_initializer="glorot_uniform",
        relation_initializer=None,
        entity_constraint=None,
        relation_regularization=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_entities = check_integer("num_entities", num_entities, minimum=2)
        self.num_relations = check_positive_int("num_relations", num_relations)
        self.dim = check_positive_int("dim", dim)
        self.interaction = interaction
        self._interaction = get_kg_interaction(interaction)
        self.p_norm = check_integer("p_norm", p_norm, minimum=1, maximum=2, allow_none=True)
        if self.p_norm is None:
            self.p_norm = 2 if interaction == "rotate" else 1
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        self.corruption = check_choice("corruption", corruption, CORRUPTIONS)
        self.entity_initializer = keras.initializers.get(entity_initializer)
        self.relation_initializer = keras.initializers.get(
            self._interaction.relation_initializer if relation_initializer is None
            else relation_initializer
        )
        self.entity_constraint = keras.constraints.get(entity_constraint)
        self.relation_regularization = float(check_number(
            "relation_regularization", relation_regularization, "non-negative", finite=True
        ))
        self.seed = check_integer("seed", seed, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.entity_embeddings = self.add_weight(
            shape=(self.num_entities, self._interaction.entity_width * self.dim),
            initializer=self.entity_initializer,
            constraint=self.entity_constraint,
            name="entity_embeddings",
        )
        # Phases stay float32 under mixed precision: angles are never rounded to bfloat16.
        self.relation_embeddings = self.add_weight(
            shape=(self.num_relations, self._interaction.relation_width * self.dim),
            initializer=self.relation_initializer,
            autocast=not self._interaction.relation_phases,
            name="relation_embeddings",
        )
        self.head_corruption_probabilities = self.add_weight(
            shape=(self.num_relations,),
            initializer=keras.initializers.Constant(0.5),
            trainable=False,
            autocast=False,
            name="head_corruption_probabilities",
        )
        self._corruption_adapted = self.corruption == "uniform"
        self.built = True

    def _score(self, heads, relations, tails):
        """Scores of entity rows and rows of `_relation_table()` that broadcast."""
        score = self._interaction.feature_score or self._interaction.score
        return score(heads, relations, tails, p_norm=self.p_norm)

    def _relation_table(self):
        """The relation rows `_score` takes: the table, or its features (RotatE's rotations)."""
        if self._interaction.relation_features is not None:
            return self._interaction.relation_features(self.relation_embeddings)
        return ops.cast(self.relation_embeddings, self.compute_dtype)

    def call(self, triples):
        return self._score_triples(triples)

    def _score_triples(self, triples):
        """Scores `(...)` of `(..., 3)` id triples, also outside `__call__` (no autocast scope)."""
        triples = ops.cast(triples, "int32")
        return self._score(self._entity_rows(triples[..., 0]),
                           self._relation_rows(triples[..., 1]),
                           self._entity_rows(triples[..., 2]))

    # The gathered rows are cast to the compute dtype here, as `__call__`'s autocast would,
    # so `compute_loss` scores the negatives without a second `__call__`, whose bookkeeping
    # dominates a small eager (PyTorch) step.
    def _entity_rows(self, ids):
        return ops.cast(ops.take(self.entity_embeddings, ids, axis=0), self.compute_dtype)

    def _relation_rows(self, ids):
        return ops.take(self._relation_table(), ids, axis=0)

    def _negative_scores(self, triples):
        """Corruptions `(batch, num_negatives, 3)` of `(batch, 3)` triples and their scores.

        Each triple's relation row `(batch, 1, width)` broadcasts over its
        negatives, so it is gathered once per true triple.
        """
        triples = ops.cast(triples, "int32")
        negatives = corrupt_triples(
            triples, self.num_negatives, self.num_entities,
            self.head_corruption_probabilities, self.seed_generator,
        )
        relations = self._relation_rows(triples[:, 1])
        scores = self._score(self._entity_rows(negatives[..., 0]),
                             ops.expand_dims(relations, 1),
                             self._entity_rows(negatives[..., 2]))
        return negatives, scores

    def _relation_penalty(self, triples):
        """`relation_regularization * mean(r^2)` over the relations of `(batch, 3)` triples."""
        relations = ops.take(self.relation_embeddings, ops.cast(triples, "int32")[:, 1], axis=0)
        return self.relation_regularization * ops.mean(ops.square(ops.cast(relations, "float32")))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, triples):
        return keras.KerasTensor(tuple(triples.shape[:-1]), dtype="float32")

    def _score_every_entity(self, entities, relations, entities_are_heads):
        """`(batch, num_entities)` scores with every entity on the side `entities` is not."""
        given = ops.take(self.entity_embeddings, ops.cast(entities, "int32"), axis=0)
        relations = self._relation_rows(ops.cast(relations, "int32"))
        given, relations = ops.expand_dims(given, 1), ops.expand_dims(relations, 1)
        candidates = ops.expand_dims(ops.convert_to_tensor(self.entity_embeddings), 0)
        if entities_are_heads:
            return self._score(given, relations, candidates)
        return self._score(candidates, relations, given)

    def score_tails(self, heads, relations):
        """Scores of `(head, relation, e)` for every entity `e`: `(batch, num_entities)` float32.

        Args:
            heads, relations: integer tensors `(batch,)` of ids.
        """
        return self._score_every_entity(heads, relations, entities_are_heads=True)

    def score_heads(self, relations, tails):
        """Scores of `(e, relation, tail)` for every entity `e`: `(batch, num_entities)` float32.

        Args:
            relations, tails: integer tensors `(batch,)` of ids.
        """
        return self._score_every_entity(tails, relations, entities_are_heads=False)

    def adapt(self, triples):
        """Read the Bernoulli corruption probabilities from the training `triples`.

        Args:
            triples: `Triples` or a `(count, 3)` integer array of ids.
        """
        triples = check_triple_ids("triples", triples, self.num_entities, self.num_relations)
        if self.corruption == "bernoulli":
            self.head_corruption_probabilities.assign(
                bernoulli_head_probabilities(triples, self.num_relations)
            )
        self._corruption_adapted = True

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit` on training triples (`Triples`, an id array, or a dataset).

        Array input is checked against the table sizes and, with Bernoulli
        corruption, adapts the model first; `y` is not used (pass none).
        """
        if x is not None and (hasattr(x, "ids") or isinstance(x, (np.ndarray, list))):
            x = check_triple_ids("x", x, self.num_entities, self.num_relations)
            if not self._corruption_adapted:
                self.adapt(x)
        return super().fit(x, y, *args, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self._corruption_adapted:
            raise ValueError(
                "`corruption='bernoulli'` needs the relation statistics of the training "
                "triples: call `model.adapt(train_triples)` (or `fit` on an array) first."
            )
        if self.loss is None:
            raise ValueError(
                "`loss` must be given to `compile`: `KGMarginRankingLoss()`, "
                "`KGSoftplusLoss()` or `KGSelfAdversarialLoss()`. Received: loss=None."
            )
        if y_pred is None:
            y_pred = self(x, training=training)
        _, negative_scores = self._negative_scores(x)
        scores = ops.concatenate(
            [ops.expand_dims(ops.cast(y_pred, "float32"), -1), negative_scores], axis=-1
        )
        loss = super().compute_loss(
            x=x, y=ops.zeros_like(scores), y_pred=scores, sample_weight=sample_weight,
            training=training,
        )
        if self.relation_regularization:
            loss = loss + self._relation_penalty(x)
        return loss

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._corruption_adapted = True

    def entity_vectors(self):
        """The entity table as a float32 numpy array `(num_entities, width)`."""
        return np.asarray(ops.convert_to_numpy(self.entity_embeddings), dtype=np.float32)

    def relation_vectors(self):
        """The relation table as a float32 numpy array (phases in radians for RotatE)."""
        return np.asarray(ops.convert_to_numpy(self.relation_embeddings), dtype=np.float32)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_entities": self.num_entities,
                "num_relations": self.num_relations,
                "dim": self.dim,
                "interaction": self.interaction,
                "p_norm": self.p_norm,
                "num_negatives": self.num_negatives,
                "corruption": self.corruption,
                "entity_initializer": keras.initializers.serialize(self.entity_initializer),
                "relation_initializer": keras.initializers.serialize(self.relation_initializer),
                "entity_constraint": keras.constraints.serialize(self.entity_constraint),
                "relation_regularization": self.relation_regularization,
                "seed": self.seed,
            }
        )
        return config
