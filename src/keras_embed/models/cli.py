"""`keras-embed train kg`: train knowledge-graph embeddings from triples files (`train glove`: glove_cli).

`add_subparser(subparsers)` registers the `train` command on the main parser;
its handler (`run`) returns the process exit code: 0 on success, 2 for a bad
file or argument (the message goes to stderr). Keras loads only once a model is
trained, never for `--help`.
"""

import json
import os
import sys

_LOSSES = ("margin", "softplus", "nssa")


def add_subparser(subparsers):
    """Add `train` with its `kg` and `glove` sub-commands."""
    train = subparsers.add_parser(
        "train",
        help="train embeddings and write them as standard files",
        description="Train embeddings and write them as standard vector files.",
    )
    kinds = train.add_subparsers(dest="train_command", required=True)
    kg = kinds.add_parser(
        "kg",
        help="knowledge-graph embeddings from head<TAB>relation<TAB>tail files",
        description="Train TransE, DistMult, ComplEx or RotatE on a triples file; write "
        "entity and relation vectors (word2vec text), the label maps, the model and, "
        "with --test, filtered link-prediction metrics.",
    )
    kg.add_argument("--train", required=True, help="training triples (labels are built from it)")
    kg.add_argument("--valid", default=None, help="validation triples (filtered out in ranking)")
    kg.add_argument("--test", default=None, help="test triples: report MRR and Hits@1/3/10")
    kg.add_argument(
        "--interaction", choices=("transe", "distmult", "complex", "rotate"), default="transe"
    )
    kg.add_argument("--dim", type=int, default=100, help="embedding size (complex numbers for "
                    "complex and rotate; default 100)")
    kg.add_argument("--epochs", type=int, default=200)
    kg.add_argument("--batch-size", type=int, default=128)
    kg.add_argument("--negatives", type=int, default=4, help="corruptions per triple")
    kg.add_argument("--corruption", choices=("uniform", "bernoulli"), default="uniform")
    kg.add_argument("--loss", choices=_LOSSES, default=None,
                    help="default: nssa for rotate, softplus for distmult/complex, margin for transe")
    kg.add_argument("--margin", type=float, default=None,
                    help="margin of the margin (default 1) or nssa (default 9) loss")
    kg.add_argument("--p-norm", type=int, default=1, choices=(1, 2),
                    help="distance norm of transe/rotate (default 1)")
    kg.add_argument("--unit-norm", dest="unit_norm", action="store_true", default=None,
                    help="keep entity vectors at unit L2 norm (default for transe, distmult, "
                    "complex)")
    kg.add_argument("--no-unit-norm", dest="unit_norm", action="store_false")
    kg.add_argument("--learning-rate", type=float, default=0.01, help="Adam's (default 0.01)")
    kg.add_argument("--seed", type=int, default=0)
    kg.add_argument("--output", required=True, help="folder for the vectors, maps and model")
    kg.set_defaults(handler=run)
    from keras_embed.models.glove_cli import add_parser as add_glove_parser

    add_glove_parser(kinds)
    return train


def run(args):
    """Run a parsed `keras-embed train kg ...` command; returns the exit code."""
    try:
        return _train_kg(args)
    except (OSError, ValueError) as error:
        print(f"keras-embed train {args.train_command}: {error}", file=sys.stderr)
        return 2


def _write_label_map(path, label_to_id):
    from keras_embed.vectors._io import atomic_output

    with atomic_output(path) as stream:
        stream.write(b"id\tlabel\n")
        for label, index in sorted(label_to_id.items(), key=lambda item: item[1]):
            stream.write(f"{index}\t{label}\n".encode("utf-8"))


def _train_kg(args):
    from keras_embed.models.triples import load_triples

    train = load_triples(args.train)
    maps = (train.entity_to_id, train.relation_to_id)
    valid = load_triples(args.valid, *maps) if args.valid else None
    test = load_triples(args.test, *maps) if args.test else None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from keras_embed import models
    from keras_embed.vectors import Vectors, save
    from keras_embed.vectors._io import atomic_output

    interaction = args.interaction
    loss_name = args.loss or {"rotate": "nssa", "transe": "margin"}.get(interaction, "softplus")
    margin = args.margin if args.margin is not None else (9.0 if loss_name == "nssa" else 1.0)
    loss = {
        "margin": lambda: models.KGMarginRankingLoss(margin=margin),
        "softplus": models.KGSoftplusLoss,
        "nssa": lambda: models.KGSelfAdversarialLoss(margin=margin),
    }[loss_name]()
    unit_norm = interaction != "rotate" if args.unit_norm is None else args.unit_norm
    keras.utils.set_random_seed(args.seed)
    model = models.KnowledgeGraphEmbedding(
        train.num_entities, train.num_relations, args.dim, interaction=interaction,
        p_norm=args.p_norm, num_negatives=args.negatives, corruption=args.corruption,
        entity_constraint=keras.constraints.UnitNorm(axis=1) if unit_norm else None,
        seed=args.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=loss)
    model.fit(train, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
              verbose=1 if sys.stdout.isatty() else 2)
    os.makedirs(args.output, exist_ok=True)
    save(Vectors(train.entity_labels, model.entity_vectors()),
         os.path.join(args.output, "entities.vec"), format="word2vec_text")
    save(Vectors(train.relation_labels, model.relation_vectors()),
         os.path.join(args.output, "relations.vec"), format="word2vec_text")
    _write_label_map(os.path.join(args.output, "entity_to_id.tsv"), train.entity_to_id)
    _write_label_map(os.path.join(args.output, "relation_to_id.tsv"), train.relation_to_id)
    model.save(os.path.join(args.output, "model.keras"))
    if test is not None:
        known = [part for part in (train, valid, test) if part is not None]
        metrics = models.evaluate_link_prediction(model, test, filter_triples=known)
        with atomic_output(os.path.join(args.output, "metrics.json")) as stream:
            stream.write(json.dumps(metrics, indent=2).encode("utf-8"))
        print("test (filtered, both sides, realistic ranks): " + ", ".join(
            f"{name} {value:.4f}" for name, value in metrics.items()
        ))
    print(f"wrote {train.num_entities} entity and {train.num_relations} relation vectors "
          f"to {args.output}")
    return 0
