"""Call arguments checked as they arrive, before keras converts them to tensors (private)."""

import inspect

from keras_embed.ops._ids import check_call_argument


class CheckedCallArgumentsMixin:
    """Runs the id and number rules of `ops._ids` on the arrays a layer is called with.

    keras' `Layer.__call__` converts numpy arguments to tensors before `call`
    sees them, and that conversion answers wrongly without an error: on JAX
    without x64 it truncates int64 ids to int32 (`2**32 + 3` becomes 3), it
    parses numeric strings as numbers, and it casts float16 ids to the compute
    dtype. A layer names its arguments in `checked_call_arguments`
    (`{"inputs": "ids", "positions": "positions"}`: ids, or numbers named so in errors);
    `call` still checks the tensors it receives.
    """

    checked_call_arguments = {}

    def call_argument_kinds(self, arguments):
        """The kind of each checked argument, given all `arguments` by name."""
        return self.checked_call_arguments

    def __call__(self, *args, **kwargs):
        parameters = self._call_signature.parameters
        names = list(parameters)[: len(args)]
        kinds = self.call_argument_kinds({**dict(zip(names, args)), **kwargs})

        def checked(name, value):
            if name not in kinds:
                return value
            required = parameters[name].default is inspect.Parameter.empty
            return check_call_argument(name, value, kinds[name], required)

        args = tuple(checked(name, value) for name, value in zip(names, args)) + args[len(names) :]
        kwargs = {name: checked(name, value) for name, value in kwargs.items()}
        return super().__call__(*args, **kwargs)
