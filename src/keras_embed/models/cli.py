"""`keras-embed train kg|word2vec|fasttext|glove`: train embeddings from triples files or a text corpus.

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
    kg.add_argument("--p-norm", type=int, default=None, choices=(1, 2),
                    help="distance norm of transe/rotate (default 1 for transe, 2 for rotate)")
    kg.add_argument("--unit-norm", dest="unit_norm", action="store_true", default=None,
                    help="keep entity vectors at unit L2 norm (default for transe, distmult, "
                    "complex)")
    kg.add_argument("--no-unit-norm", dest="unit_norm", action="store_false")
    kg.add_argument("--relation-regularization", type=float, default=0.0,
                    help="weight of the penalty on the mean square of the batch's "
                    "relation vector elements (default 0: none)")
    kg.add_argument("--learning-rate", type=float, default=0.01, help="Adam's (default 0.01)")
    kg.add_argument("--seed", type=int, default=0)
    kg.add_argument("--output", required=True, help="folder for the vectors, maps and model")
    kg.set_defaults(handler=run)
    _add_word_vector_parsers(kinds)
    from keras_embed.models.glove_cli import add_parser as add_glove_parser

    add_glove_parser(kinds)
    return train


def _add_word_vector_parsers(kinds):
    """`train word2vec` and `train fasttext`: gensim's options, under gensim's names."""
    for name, model_name in (("word2vec", "Word2Vec"), ("fasttext", "FastText")):
        parser = kinds.add_parser(
            name,
            help=f"{model_name} word vectors from a one-sentence-per-line text file",
            description=f"Train {model_name} word vectors (gensim's options and defaults) on a "
            "text file of whitespace-separated tokens, one sentence per line, and write them "
            "as a vector file: .vec word2vec text, .bin word2vec binary, no suffix a "
            "keras_embed.vectors directory" + (" (which keeps the n-grams, so words outside "
            "the vocabulary get vectors)" if name == "fasttext" else "") + ".",
        )
        parser.add_argument("--corpus-file", required=True, help="the training text")
        parser.add_argument("--output", required=True, help="the vector file to write")
        parser.add_argument("--format", default=None, help="word2vec_text, word2vec_binary or "
                            "native (default: from the --output suffix)")
        parser.add_argument("--save-model", default=None, help="also save the model (.keras)")
        for option, kind, default in (
            ("vector-size", int, 100), ("window", int, 5), ("min-count", int, 5),
            ("sg", int, 0), ("hs", int, 0), ("negative", int, 5), ("ns-exponent", float, 0.75),
            ("cbow-mean", int, 1), ("sample", float, 1e-3), ("alpha", float, 0.025),
            ("min-alpha", float, 0.0001), ("epochs", int, 5), ("seed", int, 1),
            ("batch-size", int, 256),
        ) + ((("min-n", int, 3), ("max-n", int, 6), ("bucket", int, 2_000_000))
             if name == "fasttext" else ()):
            parser.add_argument(f"--{option}", type=kind, default=default,
                                help=f"(default {default})")
        parser.set_defaults(handler=run, model_name=model_name)


def run(args):
    """Run a parsed `keras-embed train kg ...` command; returns the exit code."""
    try:
        if args.train_command in ("word2vec", "fasttext"):
            return _train_word_vectors(args)
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
        relation_regularization=args.relation_regularization, seed=args.seed,
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


def _train_word_vectors(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_embed import models
    from keras_embed.vectors import save

    settings = {
        key: getattr(args, key)
        for key in ("vector_size", "window", "min_count", "sg", "hs", "negative", "ns_exponent",
                    "cbow_mean", "sample", "alpha", "min_alpha", "epochs", "seed", "batch_size")
    }
    if args.train_command == "fasttext":
        settings.update(min_n=args.min_n, max_n=args.max_n, bucket=args.bucket)
    model = getattr(models, args.model_name)(**settings)
    model.build_vocab(corpus_file=args.corpus_file)
    report = model.train(corpus_file=args.corpus_file, verbose=1 if sys.stdout.isatty() else 2)
    save(model.wv, args.output, format=args.format)
    if args.save_model:
        model.save(args.save_model)
    print(f"wrote {len(model.vocabulary)} word vectors of size {model.vector_size} to "
          f"{args.output} ({report['words_per_second']:,.0f} words/s)")
    return 0
