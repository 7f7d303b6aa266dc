"""``tfjs-parity doctor``: says whether a run can work here and what to do; exit 1 on a problem."""

import pytest

from conftest import run_cli
from harness.cli import EXIT_FAIL, EXIT_PASS
from harness.run import doctor


@pytest.mark.browser
def test_doctor_here_finds_everything_a_run_needs(capsys):
    assert run_cli(["doctor"]) == EXIT_PASS
    out = capsys.readouterr().out
    for line in ("ok      tensorflow: 2.19.0 imports", "ok      tfjs bundles: 4.22.0 (default)", "ok      Chromium: ",
                 "ok      webgl: ANGLE", "float32 render targets yes",
                 "ok      wasm: tfjs-backend-wasm-threaded-simd.wasm", "cross-origin isolated True",
                 "ok      ONNX route (check model.onnx): onnx 1.19.1, onnxruntime 1.23.0, onnx2tf 1.29.24",
                 "ok      PyTorch route (check FILE.py:FACTORY): torch 2.13.0+cpu",
                 "ready: every default backend can run"):
        assert line in out, out


def test_a_chromium_override_that_is_not_a_program_is_a_problem_with_its_fix(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TFJS_PARITY_CHROMIUM", str(tmp_path / "chrome"))
    assert run_cli(["doctor"]) == EXIT_FAIL
    out = capsys.readouterr().out
    assert f"problem Chromium: TFJS_PARITY_CHROMIUM={tmp_path / 'chrome'} is not an executable file" in out
    assert "fix: fix or unset the variable" in out
    assert "1 problem: a run cannot work as asked until fixed" in out
    assert "webgl:" not in out  # no browser to ask


def test_a_missing_optional_route_is_a_note_with_its_install_command(monkeypatch):
    def version(package):
        if package == "torch":
            raise doctor.metadata.PackageNotFoundError(package)
        return "1.0"

    monkeypatch.setattr(doctor.metadata, "version", version)
    onnx, torch = doctor._model_routes()
    assert onnx.status == "ok" and onnx.detail == "onnx 1.0, onnxruntime 1.0, onnx2tf 1.0"
    assert torch.status == "note" and torch.detail == "torch not installed: optional"
    assert "pip install --no-deps torch" in torch.fix


def test_without_npm_it_is_a_note_not_a_problem(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    finding = doctor._npm()
    assert finding.status == "note" and "--tfjs cannot install other tfjs versions" in finding.detail
    assert "--tfjs-dir" in finding.fix


def test_a_backend_not_in_effect_is_a_problem_and_webgpu_only_a_note():
    class NoPages:
        def page(self, backend):
            raise RuntimeError(f"backend '{backend}' is not in effect: crossOriginIsolated is False, not True")

    wasm, webgpu = doctor._backend(NoPages(), "wasm"), doctor._backend(NoPages(), "webgpu")
    assert (wasm.status, webgpu.status) == ("problem", "note")
    assert "crossOriginIsolated is False" in wasm.detail and "cross-origin isolated page" in wasm.fix
    text = doctor.render([wasm, webgpu])
    assert "problem wasm: not in effect" in text and "note    webgpu" in text and "1 problem" in text
