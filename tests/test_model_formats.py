"""The model-format registry: one record per format detection can return, each saying how its reference is built."""

from harness.reference.formats import FORMATS
from harness.reference.model_formats import MODEL_FORMATS


def test_every_detected_format_has_a_record_in_detections_order():
    assert tuple(MODEL_FORMATS) == FORMATS


def test_keras_2_models_take_the_layers_pipeline_and_the_others_a_builder():
    layers = {name for name, record in MODEL_FORMATS.items() if record.build is None}
    assert layers == {"keras-h5", "tf-keras-savedmodel"}  # and keras3's twin (its builder: the SavedModel route)
    assert all(record.holds and record.checks for record in MODEL_FORMATS.values())
