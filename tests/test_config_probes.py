"""A field tfjs drops is a finding only when its value changes what tfjs computes: anything but the layer class's
Keras default (``config_probes.default_config``)."""

import pytest

from harness.reference.config_probes import camel_case, default_config, dropped_fields

pytestmark = pytest.mark.keras


def tfjs_without(config, *fields):
    """What tfjs' getConfig() gives for ``config`` when it has no ``fields`` (camelCase keys, as tfjs writes)."""
    return {camel_case(key): value for key, value in config.items() if key not in fields}


@pytest.mark.parametrize(("layer", "field", "other"), [
    ("Conv2DTranspose", "dilation_rate", (2, 2)),
    ("Conv2D", "groups", 2),
    ("GlobalAveragePooling2D", "keepdims", True),
    ("Conv1D", "data_format", "channels_first"),
])
def test_a_dropped_field_at_its_default_is_no_finding_and_at_another_value_it_is(layer, field, other):
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    required = {"Conv2DTranspose": {"filters": 4, "kernel_size": 3}, "Conv2D": {"filters": 4, "kernel_size": 3},
                "Conv1D": {"filters": 4, "kernel_size": 3}}.get(layer, {})
    default = getattr(keras.layers, layer)(**required)
    changed = getattr(keras.layers, layer)(**required, **{field: other})
    for built, expected in ((default, []), (changed, [field])):
        config = built.get_config()
        assert dropped_fields(config, tfjs_without(config, field), default_config(built)) == expected, built


def test_a_class_that_cannot_be_built_from_its_config_alone_has_no_defaults_and_every_dropped_field_counts():
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    layer = keras.layers.Lambda(lambda x: x * 2)
    assert default_config(layer) == {}


# Every layer class tfjs-layers registers that tf_keras builds, with only its required arguments (Keras' defaults for
# the rest), and the shape of one sample it takes. Left out, with the reason: GRU (Keras 2 defaults to
# reset_after=True, which tfjs does not implement: a real difference, named by ROUTES) and SeparableConv2D (tf_keras
# writes a kernel_initializer tfjs refuses: a real refusal, repaired by --repair).
LAYERS_WITH_DEFAULTS = [
    ("Dense", {"units": 3}, (4,)), ("Activation", {"activation": "relu"}, (4,)), ("Dropout", {"rate": 0.5}, (4,)),
    ("Flatten", {}, (2, 3)), ("RepeatVector", {"n": 2}, (4,)), ("Reshape", {"target_shape": (2, 2)}, (4,)),
    ("Permute", {"dims": (2, 1)}, (2, 3)), ("Conv1D", {"filters": 2, "kernel_size": 2}, (6, 3)),
    ("Conv2D", {"filters": 2, "kernel_size": 2}, (6, 6, 3)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2}, (6, 6, 3)),
    ("Conv3D", {"filters": 2, "kernel_size": 2}, (4, 4, 4, 2)), ("DepthwiseConv2D", {"kernel_size": 2}, (6, 6, 3)),
    ("Cropping2D", {}, (6, 6, 2)), ("UpSampling2D", {}, (3, 3, 2)), ("ZeroPadding2D", {}, (3, 3, 2)),
    ("MaxPooling1D", {}, (6, 2)), ("MaxPooling2D", {}, (6, 6, 2)), ("MaxPooling3D", {}, (4, 4, 4, 2)),
    ("AveragePooling1D", {}, (6, 2)), ("AveragePooling2D", {}, (6, 6, 2)), ("AveragePooling3D", {}, (4, 4, 4, 2)),
    ("GlobalAveragePooling1D", {}, (6, 2)), ("GlobalAveragePooling2D", {}, (6, 6, 2)),
    ("GlobalMaxPooling1D", {}, (6, 2)), ("GlobalMaxPooling2D", {}, (6, 6, 2)),
    ("SimpleRNN", {"units": 3}, (5, 2)), ("LSTM", {"units": 3}, (5, 2)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 2}, (3, 5, 5, 2)),
    ("BatchNormalization", {}, (4,)), ("LayerNormalization", {}, (4,)), ("GaussianNoise", {"stddev": 0.1}, (4,)),
    ("GaussianDropout", {"rate": 0.1}, (4,)), ("AlphaDropout", {"rate": 0.1}, (4,)),
    ("SpatialDropout1D", {"rate": 0.1}, (5, 2)), ("ELU", {}, (4,)), ("LeakyReLU", {}, (4,)), ("PReLU", {}, (4,)),
    ("ReLU", {}, (4,)), ("Softmax", {}, (4,)), ("ThresholdedReLU", {}, (4,)), ("Masking", {}, (5, 2)),
]
MERGE_LAYERS = ["Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply"]


def models_of_every_layer_class():
    """One model per layer class above (the merge layers on two inputs, the wrappers around an LSTM and a Dense, the
    Embedding on integer tokens)."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    def single(layer, shape, dtype="float32"):
        inputs = keras.Input(shape, dtype=dtype)
        return keras.Model(inputs, layer(inputs))

    models = [single(getattr(keras.layers, name)(**arguments), shape)
              for name, arguments, shape in LAYERS_WITH_DEFAULTS]
    for name in MERGE_LAYERS:
        a, b = keras.Input((4,)), keras.Input((4,))
        models.append(keras.Model([a, b], getattr(keras.layers, name)()([a, b])))
    a, b = keras.Input((4,)), keras.Input((4,))
    models.append(keras.Model([a, b], keras.layers.Dot(axes=1)([a, b])))
    models.append(single(keras.layers.Bidirectional(keras.layers.LSTM(2)), (5, 2)))
    models.append(single(keras.layers.TimeDistributed(keras.layers.Dense(2)), (5, 2)))
    models.append(single(keras.layers.Embedding(10, 3), (5,), "int32"))
    return models


@pytest.mark.browser
def test_every_layer_class_tfjs_registers_with_keras_defaults_has_no_config_finding(parity_session):
    from harness.browser.page import PageOperation
    from harness.reference.config_probes import config_findings, layer_probes, probe_requests

    probes = [probe for model in models_of_every_layer_class() for probe in layer_probes(model)]
    assert len(probes) == len(LAYERS_WITH_DEFAULTS) + len(MERGE_LAYERS) + 4
    results = parity_session.page("cpu").call(PageOperation.PROBE_LAYERS, probe_requests(probes))
    findings = config_findings(probes, results)
    assert not findings, "\n".join(map(str, findings))


# Each field tfjs-layers drops from these classes, set to a value other than Keras' default, on an input it fits.
NON_DEFAULT_FIELDS = [
    ("Conv1D", {"filters": 2, "kernel_size": 2, "groups": 2}, (6, 4), "groups"),
    ("Conv2D", {"filters": 2, "kernel_size": 2, "groups": 2}, (6, 6, 4), "groups"),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "dilation_rate": 2}, (6, 6, 3), "dilation_rate"),
    ("GlobalAveragePooling2D", {"keepdims": True}, (6, 6, 2), "keepdims"),
    ("GlobalMaxPooling1D", {"keepdims": True}, (6, 2), "keepdims"),
]


@pytest.mark.browser
def test_a_field_tfjs_drops_set_to_another_value_than_the_default_is_found(parity_session):
    from harness.browser.page import PageOperation
    from harness.reference.config_probes import config_findings, layer_probes, probe_requests
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    for name, arguments, shape, field in NON_DEFAULT_FIELDS:
        inputs = keras.Input(shape)
        probes = layer_probes(keras.Model(inputs, getattr(keras.layers, name)(**arguments)(inputs)))
        results = parity_session.page("cpu").call(PageOperation.PROBE_LAYERS, probe_requests(probes))
        findings = [str(finding) for finding in config_findings(probes, results)]
        assert len(findings) == 1 and f"tfjs ignores {field}=" in findings[0], (name, findings)
