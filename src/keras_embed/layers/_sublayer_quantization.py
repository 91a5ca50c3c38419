"""Quantized sublayers that survive `get_config` and `.keras` files (private).

`model.quantize(mode)` quantizes the leaf layers only, so inside a composite
layer (the tables of `HashEmbedding`, the projections of
`MixedDimensionEmbedding`, the dense of `MaskedLMHead`) the sublayers change
their dtype policy while the composite's own config still describes float
sublayers. Rebuilt from that config, the composite would create float
variables and fail to load the quantized ones.

`SublayerQuantizationMixin` records every quantized descendant in the config
under `"quantized_sublayers"` (its path below the layer -> its dtype policy
and quantization config) and gives those policies back to the rebuilt
sublayers before they are built, as keras does for the layers of a
functional model. It also lets `layer.quantize(mode)` be called on the
composite itself, with what `model.quantize(mode)` would do to it.
"""

import keras

_CONFIG_KEY = "quantized_sublayers"


def _descendants(layer, skip=(), prefix=""):
    """`(path, sublayer)` for every layer below `layer`, depth first."""
    for sublayer in layer._flatten_layers(include_self=False, recursive=False):
        if any(sublayer is other for other in skip):
            continue
        path = prefix + sublayer.name
        yield path, sublayer
        yield from _descendants(sublayer, (), path + "/")


class SublayerQuantizationMixin:
    """Keeps the quantization of a layer's sublayers in its config.

    Mix it in before the keras base class, and call
    `self.restore_sublayer_quantization()` once the sublayers exist and
    before they are built (at the top of `build` when `__init__` creates
    them). Layers named in `shared_sublayers` (attribute names) belong to
    the model as well and are saved and quantized there, not here.
    """

    shared_sublayers = ()

    def _owned_sublayers(self):
        shared = [getattr(self, name, None) for name in self.shared_sublayers]
        return _descendants(self, [layer for layer in shared if layer is not None])

    def __init__(self, *args, **kwargs):
        recorded = kwargs.pop(_CONFIG_KEY, None) or {}
        super().__init__(*args, **kwargs)
        self._recorded_sublayer_quantization = dict(recorded)

    def restore_sublayer_quantization(self):
        """Give recorded sublayers their quantized policies (before they are built)."""
        recorded = self._recorded_sublayer_quantization
        if not recorded:
            return
        for path, sublayer in self._owned_sublayers():
            entry = recorded.get(path)
            if entry is None or sublayer.built or sublayer.quantization_mode is not None:
                continue
            config = entry.get("quantization_config")
            if config is not None:
                sublayer.quantization_config = keras.saving.deserialize_keras_object(config)
            sublayer.dtype_policy = keras.dtype_policies.deserialize(entry["dtype_policy"])
        self._recorded_sublayer_quantization = {}

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the sublayers as `model.quantize(mode, config=config)` would.

        The leaf sublayers that can be quantized (embedding tables, dense
        projections) are; weights of this layer's own stay in float.
        """
        changed = False
        for _, sublayer in self._owned_sublayers():
            if len(list(sublayer._flatten_layers())) != 1:
                continue
            try:
                sublayer.quantize(mode, type_check=type_check, config=config)
            except NotImplementedError:
                continue
            changed = True
        if not changed:
            raise NotImplementedError(
                f"Layer {self.__class__.__name__} has no sublayer that can be quantized "
                f"with mode={mode!r}."
            )

    def get_config(self):
        config = super().get_config()
        # Entries read from a config but not yet applied (the layer is not built) stay.
        recorded = dict(self._recorded_sublayer_quantization)
        for path, sublayer in self._owned_sublayers():
            if sublayer.quantization_mode is None:
                continue
            quantization_config = getattr(sublayer, "quantization_config", None)
            recorded[path] = {
                "dtype_policy": keras.dtype_policies.serialize(sublayer.dtype_policy),
                "quantization_config": (
                    None
                    if quantization_config is None
                    else keras.saving.serialize_keras_object(quantization_config)
                ),
            }
        if recorded:
            config[_CONFIG_KEY] = recorded
        return config
