"""Pure parts of the training checks: early-stopping design, known-bug signature, name mapping."""

import pytest

from harness.verdict.known_issues import shows_multi_output_evaluation_bug
from harness.reference.losses import LossSpec
from harness.reference.training_spec import TrainingSpec
from harness.reference.optimizers import OptimizerSpec
from harness.reference.training_runs import TrainingReferenceError, choose_min_delta, simulate_early_stopping


def test_stopping_rule_counts_improvement_against_the_best_loss_not_the_previous_epoch():
    # Epoch 3 gains only 0.07 on epoch 2, but 0.12 on the best loss (epoch 1): an improvement, so the
    # run stops at epoch 5, not 3. The margin is the closest call: epoch 3's 0.12 vs 0.1.
    losses = [2.0, 1.5, 1.45, 1.38, 1.37, 1.36]
    assert simulate_early_stopping(losses, min_delta=0.1, patience=2) == (5, pytest.approx(0.02))
    assert simulate_early_stopping(losses, min_delta=0.001, patience=2)[0] is None


def test_min_delta_is_chosen_to_stop_mid_run_with_the_widest_margin():
    losses = [2.0, 1.4, 1.0, 0.8, 0.78, 0.77, 0.765, 0.76, 0.758, 0.757]
    min_delta, stopped = choose_min_delta(losses, patience=2)
    assert simulate_early_stopping(losses, min_delta, 2)[0] == stopped
    assert 2 < stopped < len(losses) - 1


def test_a_steadily_falling_loss_stops_at_the_first_chance_with_a_wide_margin():
    losses = [1.42, 1.31, 1.25, 1.18, 1.12, 1.05, 0.98, 0.91, 0.84, 0.77, 0.71, 0.65]  # a user's classifier
    min_delta, stopped = choose_min_delta(losses, patience=2)
    assert stopped == 2 and min_delta == pytest.approx(2 * (1.42 - 1.25))
    assert simulate_early_stopping(losses, min_delta, 2) == (2, pytest.approx(1.42 - 1.25))


def test_a_run_that_cannot_stop_robustly_is_refused():
    with pytest.raises(TrainingReferenceError, match="the loss never changes"):
        choose_min_delta([1.0] * 8, patience=2)
    with pytest.raises(TrainingReferenceError, match="no min_delta stops this run"):
        choose_min_delta([2.0, 1.0, 0.5], patience=2)  # too short to stop at all


def test_tfjs_compile_arguments_use_tfjs_loss_and_metric_names():
    spec = TrainingSpec(OptimizerSpec("sgd", 0.1), {"label": LossSpec("categorical_crossentropy"),
                                                    "score": LossSpec("mean_squared_error")}, metrics=("acc", "mse"))
    assert spec.tfjs_compile({"label": 3, "score": 1}) == {
        "optimizer": {"name": "sgd", "learningRate": 0.1},
        "loss": {"label": "categoricalCrossentropy", "score": "meanSquaredError"},
        "metrics": {"label": [{"name": "acc", "string": "accuracy"}, {"name": "mse", "string": "mse"}],
                    "score": [{"name": "acc", "string": "accuracy"}, {"name": "mse", "string": "mse"}]}}


def test_a_loss_from_logits_is_a_function_on_the_page_and_its_accuracy_is_named():
    spec = TrainingSpec(OptimizerSpec("sgd", 0.1), LossSpec("categorical_crossentropy", from_logits=True))
    assert spec.tfjs_compile({"out": 4}) == {
        "optimizer": {"name": "sgd", "learningRate": 0.1},
        "loss": {"name": "categoricalCrossentropy", "fromLogits": True, "labelSmoothing": 0.0},
        "metrics": {"out": [{"name": "acc", "function": "categoricalAccuracy"}]}}
    with pytest.raises(ValueError, match="from_logits has no tfjs twin"):
        LossSpec("sparse_categorical_crossentropy", from_logits=True)


def test_compiled_metrics_tfjs_does_not_report_are_named_not_dropped():
    from harness.reference.user_training import training_spec

    compiled = {"optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
                "loss": "categorical_crossentropy",
                "metrics": [["accuracy", {"class_name": "AUC", "config": {"name": "auc"}},
                             "top_k_categorical_accuracy"]]}
    spec = training_spec(compiled, {}, ["out"])
    assert spec.metrics == ("acc",)
    assert spec.metric_notes() == {"auc": "not compared: tfjs reports no such metric",
                                   "top_k_categorical_accuracy": "not compared: tfjs reports no such metric"}


KERAS = {"loss": 10.2, "label_loss": 1.5, "score_loss": 8.7}


def test_known_multi_output_bug_is_recognised_by_its_signature():
    shifted = {"loss": 1.5, "label_loss": 10.2, "score_loss": 1.5}  # what tfjs 4.22 returns
    assert shows_multi_output_evaluation_bug(shifted, KERAS, ["label", "score"])
    val = {f"val_{k}": v for k, v in shifted.items()}
    assert shows_multi_output_evaluation_bug(val, {f"val_{k}": v for k, v in KERAS.items()}, ["label", "score"], "val_")


@pytest.mark.parametrize("browser", [
    {"loss": 10.2, "label_loss": 1.5, "score_loss": 8.7},  # correct values: no bug to excuse
    {"loss": 1.5, "label_loss": 11.0, "score_loss": 1.5},  # loss shifted, but the total is wrong too
    {"loss": 1.4, "label_loss": 10.2, "score_loss": 1.5},  # first output's loss itself is off
])
def test_other_differences_are_not_taken_for_the_known_bug(browser):
    assert not shows_multi_output_evaluation_bug(browser, KERAS, ["label", "score"])


def test_single_output_models_never_match_the_multi_output_bug():
    assert not shows_multi_output_evaluation_bug({"loss": 1.0}, {"loss": 2.0}, ["dense"])


@pytest.mark.parametrize(("message", "known"), [
    ("train on wasm failed: Error: Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'",
     ("tfjs-missing-kernel", "backend 'wasm' has no 'Conv2DBackpropFilter' kernel")),
    ("graphRun on wasm failed: Error: _FusedMatMul only supports rank-1 bias but got rank 3.",
     ("tfjs-wasm-fused-matmul-bias",
      "the backend's '_FusedMatMul' kernel takes only a rank-1 bias, and the converted graph gives it rank 3")),
    ("save on cpu failed: Error: Failed to save model 'tfjs-parity/wide/converted' to local storage: size quota "
     "being exceeded is a possible cause of this failure", ("browser-localstorage-quota",
                                                           "the model is too big for the browser's localStorage")),
    ("predict on cpu failed: Error: something else", None),
])
def test_what_tfjs_cannot_run_here_is_named_by_its_known_issue(message, known):
    from harness.verdict.known_issues import cannot_run

    found = cannot_run(message)
    assert (found and (found[0].id, found[1])) == known
