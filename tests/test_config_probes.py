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
