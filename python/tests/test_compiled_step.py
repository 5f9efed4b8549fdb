"""Several steps of a compiled CPU step equal internvl-run chained step by
step: the runner carries AdamW's state in place and advances the step
counter exactly as feeding each step's results back as the next step's
arguments does."""

import subprocess

import numpy as np

from internvl_opt.tools import ROOT, run_tool


def test_two_compiled_steps_equal_two_interpreted_steps(tmp_path):
    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", ROOT / "models/tiny/tiny-vit6b-internlm2.json",
             "--max_dynamic_patch", "2", "--use_thumbnail", "True",
             "--max_seq_length", "24", "--per_device_train_batch_size", "2",
             "--drop_path_rate", "0.1", "-o", forward)
    compiled = tmp_path / "compiled"
    run_tool("internvl-compile", forward, "--target=cpu",
             "--remat=vision=force lm=auto", "--budget=40MB", "-o", compiled)

    step = compiled / "train_step.mlir"
    first = tmp_path / "first"
    run_tool("internvl-run", step, "--seed", "5", "--dump", first)
    # The results of step 1 are the state of step 2 (same names); the batch
    # is generated from the same seed again.
    np.save(first / "step.npy", np.array(2, dtype=np.int64))
    (first / "loss.npy").unlink()
    expected = run_tool("internvl-run", step, "--seed", "5", "--inputs", first)

    got = subprocess.run([str(compiled / "run-step"), "--seed", "5", "--steps", "2"],
                         capture_output=True, text=True, check=True).stdout
    assert got == expected
