"""Task-level agreement (``verdict.agreement``): labels, ties, top-k and ``--min-top1``; and a uint8 classifier
whose quantization stays within its tolerance yet changes labels, which the quantized row now fails."""

import json

import numpy as np
import pytest

from conftest import run_cli
from harness import cli
from harness.verdict.agreement import (
    DEFAULT_MIN_TOP1,
    MinTop1Error,
    agreement,
    classification_kind,
    flips_shown_by,
    logits_outputs,
    parse_min_top1,
)
from harness.verdict.tolerances import Tolerance

TIGHT = Tolerance(1e-6, 0.0, "test")


def softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def test_outputs_are_told_apart_by_what_they_hold():
    rng = np.random.default_rng(0)
    assert classification_kind(softmax(rng.normal(size=(8, 5)))) == "softmax"
    assert classification_kind(rng.uniform(size=(8, 1)).astype(np.float32)) == "sigmoid"
    assert classification_kind(rng.normal(size=(8, 5)).astype(np.float32)) is None  # logits or a regression
    assert classification_kind(np.arange(8, dtype=np.int32).reshape(8, 1)) is None


def test_a_changed_label_is_named_and_a_tie_left_out():
    expected = softmax(np.array([[2.0, 1.0, 0.0, -1.0], [0.0, 1.0, 3.0, 0.5], [1.0, 1.0, 0.0, 0.0]]))
    actual = expected.copy()
    actual[0, [0, 1]] = actual[0, [1, 0]]  # sample 0 flips from class 0 to class 1
    actual[2, [0, 1]] = actual[2, [1, 0]]  # sample 2 is a tie in Keras: swapping is no flip
    found = agreement(actual, expected, TIGHT)
    assert (found.kind, found.samples, found.ties) == ("softmax", 3, 1)
    assert found.top1 == 0.5 and [(f.sample, f.keras, f.browser) for f in found.flips] == [(0, 0, 1)]
    assert found.max_probability_change == pytest.approx(expected[0, 0] - expected[0, 1])
    problem = found.problem(1.0, "m / predict on cpu")
    assert "top-1 agreement 50.0% (1 of 2 labels the same; 1 ties left out)" in problem
    assert "sample 0: Keras 0" in problem and "browser 1" in problem
    assert found.problem(0.5, "m") is None
    assert agreement(expected, expected, TIGHT).top1 == 1.0


def test_a_sigmoid_label_flips_across_one_half():
    expected = np.array([[0.2], [0.7], [0.5]], dtype=np.float32)
    actual = np.array([[0.6], [0.7], [0.4]], dtype=np.float32)
    found = agreement(actual, expected, TIGHT)
    assert (found.kind, found.ties, found.top1) == ("sigmoid", 1, 0.5)
    assert [(f.sample, f.keras, f.browser) for f in found.flips] == [(0, 0, 1)]


def test_top_k_compares_the_sets_of_the_best_labels():
    expected = softmax(np.array([[4.0, 3.0, 2.0, 1.0, 0.0]]))
    swapped = expected.copy()
    swapped[0, [2, 3]] = swapped[0, [3, 2]]
    assert agreement(swapped, expected, TIGHT).topk == 0.0
    assert agreement(expected, expected, TIGHT).topk == 1.0


def test_min_top1_takes_one_value_or_one_per_variant():
    assert parse_min_top1(None) == DEFAULT_MIN_TOP1
    assert set(parse_min_top1("90").values()) == {0.9}
    assert parse_min_top1("uint8=80,float16=99") == {**DEFAULT_MIN_TOP1, "uint8": 0.8, "float16": 0.99}
    for wrong, said in (("int4=50", "unknown variant 'int4'"), ("uint8=most", "'most' is not a percentage"),
                        ("120", "120 is not a percentage")):
        with pytest.raises(MinTop1Error, match=said):
            parse_min_top1(wrong)


@pytest.fixture(scope="module")
def outlier_classifier(tmp_path_factory):
    """A 20-class softmax classifier with one outlier weight in its last kernel: uint8's step (range / 255) becomes
    coarse for every other weight, as in tensorflow/tfjs#1602, and moves the outputs of samples near a decision
    boundary across it while every output stays within the derived quantized tolerance."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="tanh"),
                              keras.layers.Dense(20, activation="softmax")])
    kernel, bias = model.layers[1].get_weights()
    kernel[0, 0] = 16.0
    model.layers[1].set_weights([kernel, bias])
    path = tmp_path_factory.mktemp("agreement") / "classifier.h5"
    model.save(path)
    return path


def quantized_row(path, out, capsys, *extra):
    status = run_cli(["check", str(path), "--checks", "quantized[uint8]", "--backends", "cpu", "--batch", "64",
                      "--out", str(out), *extra])
    output = capsys.readouterr()
    rows = json.loads((out / "parity.json").read_text())["results"]
    return status, output.out + output.err, next(r for r in rows if r["check"] == "quantized[uint8]")


@pytest.mark.browser
def test_a_uint8_classifier_that_changes_labels_fails_until_min_top1_allows_it(outlier_classifier, tmp_path,
                                                                               capsys):
    status, output, row = quantized_row(outlier_classifier, tmp_path / "default", capsys)
    assert status == cli.EXIT_FAIL and row["status"] == "fail", output
    assert row["tolerance_ratio"] <= 1, "the numbers are within the derived tolerance: only the labels fail"
    found = row["details"]["agreement"][0]
    assert found["top1"] < DEFAULT_MIN_TOP1["uint8"] and row["details"]["min_top1"] == DEFAULT_MIN_TOP1["uint8"]
    assert all(f["keras"] != f["browser"] for f in found["flips"])
    flipped = found["flips"][0]
    assert f"sample {flipped['sample']}: Keras {flipped['keras']}" in row["message"]
    assert "below the 90.0% required (--min-top1)" in row["message"]
    # Keras with the same dequantized weights changes the same labels: the quantization's doing, not tfjs'
    assert row["details"]["known_issue"]["id"] == "quantization-changes-labels"

    allowed = f"uint8={np.floor(found['top1'] * 100) - 1:g}"
    status, output, row = quantized_row(outlier_classifier, tmp_path / "lowered", capsys, "--min-top1", allowed)
    assert status == cli.EXIT_PASS and row["status"] == "pass", output
    assert row["details"]["agreement"][0]["flips"], "the same labels changed, and the row says so"


def test_labels_a_quantization_changes_in_keras_too_are_told_from_ones_tfjs_changes():
    expected = softmax(np.array([[1.0, 0.9, 0.0], [0.0, 1.0, 0.95], [2.0, 0.0, 0.0]]))
    quantized_keras = expected.copy()
    quantized_keras[0, [0, 1]] = quantized_keras[0, [1, 0]]  # the dequantized weights flip sample 0 in Keras itself
    assert flips_shown_by([quantized_keras], [quantized_keras], [expected], TIGHT)
    tfjs_own = quantized_keras.copy()
    tfjs_own[1, [1, 2]] = tfjs_own[1, [2, 1]]  # and the browser also flips sample 1, which Keras does not
    assert not flips_shown_by([tfjs_own], [quantized_keras], [expected], TIGHT)
    other_label = expected.copy()
    other_label[0, [0, 2]] = other_label[0, [2, 0]]  # sample 0 flipped, but to another label than Keras'
    assert not flips_shown_by([other_label], [quantized_keras], [expected], TIGHT)


def test_logits_are_compared_as_labels_when_the_loss_reads_them_so():
    loss = {"label": {"name": "categoricalCrossentropy", "fromLogits": True, "labelSmoothing": 0},
            "score": "meanSquaredError"}
    assert logits_outputs(loss, ["label", "score"]) == {"label"}
    assert logits_outputs({"name": "binaryCrossentropy", "fromLogits": True, "labelSmoothing": 0}, ["y"]) == {"y"}
    assert logits_outputs("categoricalCrossentropy", ["y"]) == set()
    logits = np.array([[3.0, -1.0, 0.5], [0.0, 2.0, -2.0]], dtype=np.float32)
    assert agreement(logits, logits, TIGHT) is None  # without the loss' word, logits are a regression
    flipped = logits.copy()
    flipped[0, [0, 2]] = flipped[0, [2, 0]]
    found = agreement(flipped, logits, TIGHT, logits=True)
    assert (found.kind, found.top1) == ("logits", 0.5)
    assert found.max_probability_change == pytest.approx(softmax(logits[:1])[0, 0] - softmax(logits[:1])[0, 2],
                                                          rel=1e-5)
    one = np.array([[1.5], [-0.2]], dtype=np.float32)
    sign = agreement(-one, one, TIGHT, logits=True)
    assert (sign.kind, sign.top1) == ("logit", 0.0) and [f.sample for f in sign.flips] == [0, 1]
