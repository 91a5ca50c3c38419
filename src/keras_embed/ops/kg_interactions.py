"""Knowledge-graph interaction functions: the plausibility score of `(head, relation, tail)`.

Each interaction is one function `(heads, relations, tails, p_norm) -> scores` over
embeddings that broadcast against each other on their leading axes, registered as a
row of `KG_INTERACTIONS`. Higher scores mean more plausible triples. A new
interaction is one function and one row; `KnowledgeGraphEmbedding` never grows an
`if` per interaction.

Complex embeddings of `dim` complex numbers are stored as real vectors of width
`2 * dim`: the real parts first, then the imaginary parts.

Scores are float32: norms, angles and the final sums run in float32 even when the
embeddings arrive in bfloat16 (only the element-wise products of the bilinear
models stay in the input dtype).
"""

from typing import Callable
from typing import NamedTuple

from keras import ops

from keras_embed._validation import check_choice


def _safe_sqrt(values):
    """`sqrt(values)` whose gradient is 0, not infinite, where `values` is 0."""
    positive = values > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, values, 1.0)), 0.0)


def _norm(values, p_norm, axis=-1):
    """The L1 (`p_norm=1`) or L2 (`p_norm=2`) norm along `axis`, finite-gradient at 0."""
    if p_norm == 1:
        return ops.sum(ops.abs(values), axis=axis)
    return _safe_sqrt(ops.sum(ops.square(values), axis=axis))


def _halves(values):
    """Real and imaginary parts of complex vectors stored as `[real | imaginary]`."""
    return ops.split(values, 2, axis=-1)


def transe_score(heads, relations, tails, p_norm=1):
    """TransE (Bordes et al., 2013): `-||h + r - t||_p`, relations as translations.

    Args:
        heads, relations, tails: float tensors `(..., dim)` that broadcast.
        p_norm: 1 or 2, the norm of the translation error.

    Returns:
        Scores `(...)` in float32.
    """
    heads, relations, tails = (ops.cast(x, "float32") for x in (heads, relations, tails))
    return -_norm(heads + relations - tails, p_norm)


def distmult_score(heads, relations, tails, p_norm=1):
    """DistMult (Yang et al., 2015): `sum_i h_i r_i t_i`, a diagonal bilinear form.

    Args:
        heads, relations, tails: float tensors `(..., dim)` that broadcast.
        p_norm: unused (DistMult has no norm); accepted for a uniform signature.

    Returns:
        Scores `(...)` in float32.
    """
    return ops.sum(ops.cast(heads * relations * tails, "float32"), axis=-1)


def complex_score(heads, relations, tails, p_norm=1):
    """ComplEx (Trouillon et al., 2016): `Re(sum_i h_i r_i conj(t_i))`.

    Args:
        heads, relations, tails: float tensors `(..., 2 * dim)` holding `dim` complex
            numbers as `[real | imaginary]`, that broadcast.
        p_norm: unused; accepted for a uniform signature.

    Returns:
        Scores `(...)` in float32.
    """
    head_re, head_im = _halves(heads)
    relation_re, relation_im = _halves(relations)
    tail_re, tail_im = _halves(tails)
    # Re((a + ib)(c + id)(e - if)) expanded into its four real products.
    products = (
        head_re * relation_re * tail_re
        + head_im * relation_re * tail_im
        + head_re * relation_im * tail_im
        - head_im * relation_im * tail_re
    )
    return ops.sum(ops.cast(products, "float32"), axis=-1)


def rotations(phases):
    """Unit complex numbers `exp(i * theta)` of phases `(..., dim)`: `(..., 2 * dim)` float32.

    Stored as `[cos | sin]`, real parts first, as the entity vectors are.
    """
    phases = ops.cast(phases, "float32")
    return ops.concatenate([ops.cos(phases), ops.sin(phases)], axis=-1)


def rotation_score(heads, rotations, tails, p_norm=1):
    """RotatE's score from the relations' unit complex numbers (see `rotate_score`).

    Args:
        heads, rotations, tails: float tensors `(..., 2 * dim)` holding `dim`
            complex numbers as `[real | imaginary]`, that broadcast; `rotations`
            as `rotations(phases)` returns them.
        p_norm: 1 or 2.

    Returns:
        Scores `(...)` in float32.
    """
    head_re, head_im = _halves(ops.cast(heads, "float32"))
    tail_re, tail_im = _halves(ops.cast(tails, "float32"))
    cos, sin = _halves(ops.cast(rotations, "float32"))
    difference_re = head_re * cos - head_im * sin - tail_re
    difference_im = head_re * sin + head_im * cos - tail_im
    squared_moduli = ops.square(difference_re) + ops.square(difference_im)
    if p_norm == 2:
        # The L2 norm of the moduli needs no square root per element.
        return -_safe_sqrt(ops.sum(squared_moduli, axis=-1))
    return -ops.sum(_safe_sqrt(squared_moduli), axis=-1)


def rotate_score(heads, relations, tails, p_norm=1):
    """RotatE (Sun et al., 2019): `-||h * exp(i * theta) - t||`, relations as rotations.

    The relation is a vector of phases `theta`, so every relation element has
    modulus 1. The distance is the L1 (`p_norm=1`, the paper's implementation) or
    L2 norm of the element-wise complex moduli of `h * r - t`.

    Args:
        heads, tails: float tensors `(..., 2 * dim)` holding `dim` complex numbers
            as `[real | imaginary]`.
        relations: phases in radians, `(..., dim)`.
        p_norm: 1 or 2.

    Returns:
        Scores `(...)` in float32.
    """
    return rotation_score(heads, rotations(relations), tails, p_norm)


class KGInteraction(NamedTuple):
    """One registered interaction.

    score: `(heads, relations, tails, p_norm) -> scores`.
    entity_width: entity vector width as a multiple of `dim` (2 for complex vectors).
    relation_width: relation vector width as a multiple of `dim`.
    relation_initializer: default Keras initializer of the relation table
        (RotatE's phases are uniform on `[-pi, pi)`).
    relation_phases: relations are angles, kept in float32 under mixed precision.
    relation_features: optional `relations -> features` that `feature_score`
        scores with in place of the stored relations. `KnowledgeGraphEmbedding`
        applies it to the whole relation table, then gathers rows: RotatE's
        cos and sin cost one evaluation per relation element, not one per
        scored triple (the optimizer touches every row each step anyway).
    feature_score: `(heads, features, tails, p_norm) -> scores`, with
        `relation_features`.
    """

    score: Callable
    entity_width: int = 1
    relation_width: int = 1
    relation_initializer: object = "glorot_uniform"
    relation_phases: bool = False
    relation_features: Callable = None
    feature_score: Callable = None


_PHASES = {"class_name": "RandomUniform", "config": {"minval": -3.141592653589793,
                                                    "maxval": 3.141592653589793}}

KG_INTERACTIONS = {
    "transe": KGInteraction(transe_score),
    "distmult": KGInteraction(distmult_score),
    "complex": KGInteraction(complex_score, entity_width=2, relation_width=2),
    "rotate": KGInteraction(rotate_score, entity_width=2, relation_width=1,
                            relation_initializer=_PHASES, relation_phases=True,
                            relation_features=rotations, feature_score=rotation_score),
}


def get_kg_interaction(name):
    """The `KGInteraction` registered as `name`; a `ValueError` naming the choices otherwise."""
    return KG_INTERACTIONS[check_choice("interaction", name, KG_INTERACTIONS)]
