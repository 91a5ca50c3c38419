"""The `keras-embed` command: `keras-embed demo`, `keras-embed vectors ...`, `keras-embed train ...`."""

import argparse
import importlib.util
import os
import sys

BACKENDS = ("jax", "torch", "tensorflow")


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-embed", description="Embedding layers for Keras 3: demo and tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="pretrain a small masked language model on stdlib docstrings",
        description="Pretrain a small masked language model on the docstrings of the "
        "installed Python standard library, then report accuracy, fill-in-the-blank "
        "predictions and nearest neighbours, and save the model.",
    )
    demo.add_argument(
        "--steps", type=_positive(int), default=None, help="stop after this many steps"
    )
    demo.add_argument(
        "--minutes",
        type=_positive(float),
        default=3.0,
        help="stop after this many minutes (default 3)",
    )
    demo.add_argument("--batch-size", type=_positive(int), default=32)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", default="demo-output", help="folder for the model and plots")
    demo.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="Keras backend (default: $KERAS_BACKEND, else jax when installed, "
        "else Keras' own default)",
    )
    demo.set_defaults(handler=_run_demo)

    from keras_embed.vectors.cli import add_subparser as add_vectors_subparser

    add_vectors_subparser(commands)

    from keras_embed.models.cli import add_subparser as add_train_subparser

    add_train_subparser(commands)
    return parser


def _positive(kind):
    """An argparse `type` accepting only positive numbers of `kind`."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def choose_backend(requested=None, environ=None):
    """The backend the demo runs on: `--backend`, `$KERAS_BACKEND`, JAX, or `None`.

    `None` leaves the choice to Keras (`~/.keras/keras.json`, else TensorFlow).
    """
    environ = os.environ if environ is None else environ
    if requested:
        return requested
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    if importlib.util.find_spec("jax") is not None:
        return "jax"
    return None


def _run_demo(args):
    backend = choose_backend(args.backend)
    if backend is not None:
        if "keras" in sys.modules and sys.modules["keras"].config.backend() != backend:
            raise SystemExit(
                f"keras-embed demo: Keras is already loaded on another backend; "
                f"cannot switch to {backend!r}."
            )
        # Read by Keras when it is first imported, just below.
        os.environ["KERAS_BACKEND"] = backend
    # Keras imports TensorFlow for its data utilities whatever the backend; keep its C++ logs out.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_embed.demo.run import run_demo

    run_demo(
        steps=args.steps,
        minutes=args.minutes,
        output_dir=args.output,
        batch_size=args.batch_size,
        seed=args.seed,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    return 0


def main(argv=None):
    args = _build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
