"""The PyTorch half of scripts/gpu-check.sh, exercised on the CPU.

The GPU check compares a compiled step with transformers' InternVL at the
step's own weights and batch (run-step --dump-inputs), in bf16. Here the CPU
twin stands in for the CUDA step: the comparison must pass within the
check's documented tolerances, so the check measures the kernels, not its
own plumbing.
"""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from internvl_opt import gpu_check  # noqa: E402
from internvl_opt.tools import ROOT, run_tool  # noqa: E402


def test_compiled_bf16_step_matches_pytorch_autocast(tmp_path):
    config, flags, _ = gpu_check.CONFIGS["tiny"]
    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", ROOT / config, *flags, "-o", forward)
    step = tmp_path / "cpu"
    run_tool("internvl-compile", forward, "--target=cpu",
             f"--autodiff={gpu_check.AUTODIFF}", f"--remat={gpu_check.REMAT}",
             "-o", step)
    got, inputs = tmp_path / "got", tmp_path / "inputs"
    gpu_check.run(step / "run-step", "--dump", got, "--dump-inputs", inputs)
    manifest = json.loads((step / "step.json").read_text())

    result = gpu_check.torch_reference(ROOT / config, inputs, manifest, steps=2,
                                       device="cpu")
    _, loss, median, (worst, name), count = gpu_check.compare_with_torch(got, result)
    assert count == len(result["grads"]) > 0
    assert loss <= gpu_check.LOSS_TOLERANCE
    assert worst <= gpu_check.GRAD_TOLERANCE, f"worst gradient {name}: {worst:.2e}"
    assert result["step_ms"] > 0
