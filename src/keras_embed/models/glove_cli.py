"""`keras-embed train glove`: GloVe word vectors from a text corpus, written as a GloVe text file.

`add_parser(kinds)` registers the sub-command under `train`; its handler
returns the exit code: 0 on success, 2 for a bad file or argument (the message
goes to stderr). Keras loads only once training starts, never for `--help`.
"""

import os
import sys


def add_parser(kinds):
    """Add `glove` to the `train` sub-commands `kinds`."""
    glove = kinds.add_parser(
        "glove",
        help="GloVe word vectors from a text corpus (one sentence per line)",
        description="Count the co-occurrences of a corpus once (symmetric window, 1/distance "
        "weights), fit GloVe's weighted least squares with AdaGrad, and write w + w~ as a "
        "GloVe text file ('word v1 ... vd' lines).",
    )
    glove.add_argument("--corpus", required=True,
                       help="UTF-8 text, one sentence per line, tokens separated by whitespace")
    glove.add_argument("--output", required=True, help="GloVe text file to write (.gz compresses)")
    glove.add_argument("--vector-size", type=int, default=100, help="default 100")
    glove.add_argument("--window", type=int, default=15, help="context words each side; default 15")
    glove.add_argument("--min-count", type=int, default=5, help="default 5")
    glove.add_argument("--max-vocab", type=int, default=None, help="keep only the most frequent")
    glove.add_argument("--x-max", type=float, default=100.0, help="default 100")
    glove.add_argument("--alpha", type=float, default=0.75, help="weighting exponent; default 0.75")
    glove.add_argument("--learning-rate", type=float, default=0.05, help="AdaGrad's; default 0.05")
    glove.add_argument("--epochs", type=int, default=25, help="default 25")
    glove.add_argument("--batch-size", type=int, default=512, help="pairs per step; default 512")
    glove.add_argument("--seed", type=int, default=0)
    glove.add_argument("--model", default=None,
                       help="also save the trained model here (a .keras file)")
    glove.set_defaults(handler=run)
    return glove


def run(args):
    """Run a parsed `keras-embed train glove ...` command; returns the exit code."""
    try:
        return _train_glove(args)
    except (OSError, ValueError) as error:
        print(f"keras-embed train glove: {error}", file=sys.stderr)
        return 2


def _train_glove(args):
    if not os.path.isfile(args.corpus):
        raise ValueError(f"`--corpus` must be a text file. Received: {args.corpus!r}, "
                         "which is not a file.")
    from keras_embed.models.glove import GloVe
    from keras_embed.vectors import save

    model = GloVe(
        corpus_file=args.corpus, vector_size=args.vector_size, window=args.window,
        min_count=args.min_count, max_vocab=args.max_vocab, x_max=args.x_max,
        alpha=args.alpha, learning_rate=args.learning_rate, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, verbose=1 if sys.stdout.isatty() else 2,
    )
    save(model.wv, args.output, format="glove")
    if args.model:
        model.save(args.model)
    print(f"wrote {len(model.vocabulary)} vectors of size {args.vector_size} "
          f"({len(model.cooccurrences.counts)} co-occurring pairs) to {args.output}")
    return 0
