"""Every `Example:` in a public docstring runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import keras_embed


def public_modules():
    names = []
    for info in pkgutil.walk_packages(keras_embed.__path__, prefix="keras_embed."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(module) if test.examples]


CASES = [test for name in public_modules() for test in examples(name)]


def test_public_docstrings_have_examples():
    # Guards the parametrised test below against silently collecting nothing.
    documented = {test.name.rsplit(".", 1)[-1] for test in CASES}
    for layer in ("ReversibleEmbedding", "MaskedLMHead", "RotaryEmbedding", "MaskedLMMaskGenerator"):
        assert layer in documented


@pytest.mark.parametrize("test", CASES, ids=[test.name for test in CASES])
def test_docstring_example_runs(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0, f"{failed} of {attempted} lines of {test.name}'s example failed (output above)"


def test_every_public_layer_documents_its_input_and_output_shapes():
    import keras

    import keras_embed.layers

    layers = [
        value
        for value in vars(keras_embed.layers).values()
        if isinstance(value, type) and issubclass(value, keras.layers.Layer)
    ]
    assert len(layers) >= 8
    for layer in layers:
        for section in ("Args:", "Call arguments:", "Input shape:", "Output shape:", "Example:"):
            assert f"\n    {section}\n" in layer.__doc__, f"{layer.__name__} lacks `{section}`"
