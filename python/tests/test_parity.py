"""Whole-model parity of internvl-run with transformers' InternVL in f32.

For a tiny InternVL (Qwen2 LLM; and Qwen3, InternVL3.5's decoder: per-head
q/k RMSNorm, no qkv bias, head_dim 24 apart from hidden_size / heads) with
random weights and a batch of images and IMG_CONTEXT tokens: the loss of @forward, every parameter gradient of
@train_step and the parameters after one AdamW step match PyTorch (autograd,
clip_grad_norm_, torch.optim.AdamW) to a relative error of 1e-4.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from internvl_opt import reference  # noqa: E402
from internvl_opt.tools import ROOT, run_tool  # noqa: E402

TOLERANCE = 1e-4
SAMPLES, MAX_PATCH, SEQ = 2, 2, 24
LR, WEIGHT_DECAY, MAX_NORM = 1e-3, 0.1, 1.0


def run_step(tmp_path, raw_config, freeze_backbone):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(raw_config))
    config = reference.load_config(raw_config)
    model = reference.build_model(config, seed=0)
    tiles = MAX_PATCH + 1  # thumbnail
    batch = reference.make_batch(config, SAMPLES, tiles, SEQ, seed=1)
    inputs = tmp_path / "inputs"
    reference.write_inputs(inputs, model, batch)

    flags = ["--dtype", "f32", "--per_device_train_batch_size", str(SAMPLES),
             "--max_dynamic_patch", str(MAX_PATCH), "--use_thumbnail", "True",
             "--max_seq_length", str(SEQ),
             "--img_context_token_id", str(config.image_token_id)]
    if freeze_backbone:
        flags += ["--freeze_backbone", "True"]
    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", config_path, *flags, "-o", forward)
    step = tmp_path / "train_step.mlir"
    run_tool("internvl-opt", forward,
             f"--tg-autodiff=emit-gradients=true lr={LR} "
             f"weight-decay={WEIGHT_DECAY} max-grad-norm={MAX_NORM}",
             "-o", step)

    forward_out = run_tool("internvl-run", step, "--entry", "forward",
                           "--inputs", inputs)
    dump = tmp_path / "dump"
    run_tool("internvl-run", step, "--entry", "train_step", "--inputs", inputs,
             "--dump", dump)

    trainable = {n for n, _ in model.named_parameters()
                 if not (freeze_backbone and n.startswith("model.vision_tower."))}
    loss, grads, updated = reference.reference_step(
        model, batch, trainable, LR, WEIGHT_DECAY, MAX_NORM)
    return forward_out, dump, loss, grads, updated


def loss_of(output):
    line = next(l for l in output.splitlines() if l.startswith("output 0 loss"))
    return float(line.split("mean=")[1].split()[0])


@pytest.mark.parametrize("llm,vision,freeze_backbone", [
    ("qwen2", "layer_norm", False), ("qwen2", "layer_norm", True),
    ("qwen2", "rms_norm_qk_norm", False), ("qwen2", "rms_norm_qk_norm", True),
    ("qwen3", "layer_norm", False), ("qwen3", "rms_norm_qk_norm", True)])
def test_train_step_matches_pytorch(tmp_path, llm, vision, freeze_backbone):
    overrides = ({} if vision == "layer_norm" else
                 {"norm_type": "rms_norm", "use_qk_norm": True, "attention_bias": False})
    raw = reference.native_config(ROOT / f"models/tiny/tiny-hf-{llm}.json", **overrides)
    forward_out, dump, loss, grads, updated = run_step(tmp_path, raw, freeze_backbone)

    assert abs(loss_of(forward_out) - loss) <= TOLERANCE * abs(loss)
    assert abs(float(np.load(dump / "loss.npy")) - loss) <= TOLERANCE * abs(loss)

    ours = {p.stem[:-len(".grad")] for p in dump.glob("*.grad.npy")}
    assert ours == set(grads), "the parameters with a gradient differ"
    if freeze_backbone:
        assert not any(n.startswith("model.vision_tower.") for n in ours)

    failures = reference.step_failures(dump, grads, updated, TOLERANCE)
    assert not failures, "\n".join(failures)
