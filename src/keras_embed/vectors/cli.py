"""`keras-embed vectors info|convert|neighbors`: inspect, convert and query vector files.

`add_subparser(subparsers)` registers the `vectors` command on the main
parser; its handler (`run`) returns the process exit code: 0 on success, 2
for a bad or unreadable file (the message goes to stderr).
"""

import sys
import time

_FORMAT_HELP = (
    "word2vec_binary, word2vec_text, glove, fasttext_bin or native "
    "(default: told from the content)"
)


def add_subparser(subparsers):
    """Add `vectors` with its `info`, `convert` and `neighbors` sub-commands."""
    vectors = subparsers.add_parser(
        "vectors",
        help="inspect, convert and query pre-trained word vector files",
        description="Inspect, convert and query word2vec, GloVe, fastText and native "
        "vector files (.gz / .bz2 / .xz read transparently).",
    )
    actions = vectors.add_subparsers(dest="vectors_command", required=True)

    info = actions.add_parser("info", help="print the format, size and a few words of FILE")
    info.add_argument("file")
    info.add_argument("--format", default=None, help=_FORMAT_HELP)
    info.add_argument("--limit", type=int, default=None, help="read only the first N vectors")

    convert = actions.add_parser("convert", help="write FILE in another format")
    convert.add_argument("file")
    convert.add_argument("output")
    convert.add_argument("--format", default=None, help="input format: " + _FORMAT_HELP)
    convert.add_argument(
        "--to",
        default=None,
        help="output format: word2vec_binary, word2vec_text, glove or native "
        "(default: from OUTPUT's suffix: .bin, .vec, none for native)",
    )
    convert.add_argument("--limit", type=int, default=None, help="keep only the first N vectors")
    convert.add_argument(
        "--precision",
        type=int,
        default=None,
        help="significant digits per value in a text output, 1-9 (default: 9, exact float32)",
    )
    convert.add_argument(
        "--durable",
        action="store_true",
        help="fsync OUTPUT and its folder before exiting (survives a power loss)",
    )

    neighbors = actions.add_parser("neighbors", help="print the nearest neighbours of words")
    neighbors.add_argument("file")
    neighbors.add_argument("words", nargs="+", metavar="WORD")
    neighbors.add_argument("--format", default=None, help=_FORMAT_HELP)
    neighbors.add_argument("--topn", type=int, default=10)
    neighbors.add_argument(
        "--restrict-vocab", type=int, default=None, help="search only the first N words"
    )
    neighbors.add_argument("--limit", type=int, default=None, help="load only the first N vectors")
    vectors.set_defaults(handler=run)
    return vectors


def run(args):
    """Run a parsed `keras-embed vectors ...` command; returns the exit code."""
    from keras_embed.vectors.loading import load

    try:
        start = time.perf_counter()
        # No bar: keras' Progbar would load a backend, which the command line never does.
        vectors = load(args.file, format=args.format, limit=args.limit, progress=False)
        seconds = time.perf_counter() - start
        return _COMMANDS[args.vectors_command](vectors, args, seconds)
    except (OSError, ValueError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"keras-embed vectors {args.vectors_command}: {message}", file=sys.stderr)
        return 2


def _info(vectors, args, seconds):
    import numpy as np

    norms = vectors.norms
    print(f"file:    {args.file}")
    print(f"format:  {vectors.format}")
    print(f"vectors: {len(vectors)} x {vectors.dim} ({vectors.matrix.dtype})")
    print(f"loaded:  in {seconds:.2f} s")
    if len(vectors):
        print(
            f"norms:   min {norms.min():.4g}, mean {norms.mean():.4g}, max {norms.max():.4g}"
            f" ({int(np.count_nonzero(norms == 0))} zero)"
        )
    print(f"words:   {', '.join(map(repr, vectors.words[:8]))}{', ...' if len(vectors) > 8 else ''}")
    if vectors.subwords is not None:
        subwords = vectors.subwords
        print(
            f"subwords: {subwords.ngram_matrix.shape[0]} n-gram buckets, "
            f"n-grams of {subwords.minn}..{subwords.maxn} characters"
        )
    return 0


def _convert(vectors, args, seconds):
    from keras_embed.vectors.formats import save

    start = time.perf_counter()
    save(vectors, args.output, format=args.to, precision=args.precision, durable=args.durable)
    print(
        f"wrote {len(vectors)} x {vectors.dim} vectors to {args.output} "
        f"(read in {seconds:.2f} s, written in {time.perf_counter() - start:.2f} s)"
    )
    return 0


def _neighbors(vectors, args, seconds):
    for word in args.words:
        print(f"{word}:")
        for neighbor, similarity in vectors.most_similar(
            word, topn=args.topn, restrict_vocab=args.restrict_vocab
        ):
            print(f"  {similarity:.4f}  {neighbor}")
    return 0


_COMMANDS = {"info": _info, "convert": _convert, "neighbors": _neighbors}
