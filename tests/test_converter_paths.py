"""The `.h5` conversion path: the converter's command line (the seeds' way) and its Python API give
byte-identical artifacts (the harness converts in-process, so this is what makes that legitimate)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.keras


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_h5_command_line_and_python_api_give_identical_artifacts(tmp_path):
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras
    from tensorflowjs.converters.converter import dispatch_keras_h5_to_tfjs_layers_model_conversion

    from harness.reference.zoo import get_spec

    keras.utils.set_random_seed(5)
    model = get_spec("cnn").build()
    h5 = tmp_path / "cnn.h5"
    model.save(h5, save_format="h5")
    dispatch_keras_h5_to_tfjs_layers_model_conversion(str(h5), str(tmp_path / "api"))
    converter = Path(sys.executable).with_name("tensorflowjs_converter")
    done = subprocess.run([str(converter), "--input_format=keras", str(h5), str(tmp_path / "cli")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    api, cli = (json.loads((tmp_path / side / "model.json").read_text()) for side in ("api", "cli"))
    assert api["modelTopology"] == cli["modelTopology"]
    assert api["weightsManifest"] == cli["weightsManifest"]
    for group in api["weightsManifest"]:
        for path in group["paths"]:
            assert (tmp_path / "api" / path).read_bytes() == (tmp_path / "cli" / path).read_bytes()
    weights = np.frombuffer((tmp_path / "api" / api["weightsManifest"][0]["paths"][0]).read_bytes(), np.float32)
    assert weights.size and np.isfinite(weights).all()
