"""LoRA (--use_llm_lora / --use_backbone_lora) against PEFT's LoRA on
transformers' InternVL: the adapter parameter count, and in f32 the loss,
every LoRA (and projector) gradient and one AdamW step of internvl-run, to a
relative error of 1e-4, with LoRA dropout 0 on both sides."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from internvl_opt import reference  # noqa: E402
from internvl_opt.tools import ROOT, run_tool  # noqa: E402

TOLERANCE = 1e-4
SAMPLES, MAX_PATCH, SEQ = 2, 2, 24
LR, WEIGHT_DECAY, MAX_NORM = 1e-3, 0.1, 1.0
# AdamW's first step is g / (|g| + eps) * lr: with eps 1e-8, gradient
# elements near 1e-8 (a key bias after clipping) turn f32 rounding into a
# step difference of a good part of lr. eps 1e-6 on both sides keeps the
# comparison about the LoRA math.
EPS = 1e-6


def summary_value(output, key):
    return int(next(l for l in output.splitlines() if l.startswith(key)).split()[-1])


@pytest.mark.parametrize("llm,llm_rank,vision_rank", [
    ("qwen2", 4, 0), ("qwen2", 4, 2), ("qwen3", 3, 0), ("qwen2", 0, 2)])
def test_lora_step_matches_peft(tmp_path, llm, llm_rank, vision_rank):
    raw = reference.native_config(ROOT / f"models/tiny/tiny-hf-{llm}.json")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(raw))
    config = reference.load_config(raw)
    model = reference.build_model(config, seed=0)
    trainable = reference.add_lora(model, llm_rank, vision_rank)
    with torch.no_grad():  # B starts at zero in PEFT: make every gradient generic
        for name, p in model.named_parameters():
            if ".lora_" in name:
                p.copy_(0.1 * torch.randn_like(p))
    batch = reference.make_batch(config, SAMPLES, MAX_PATCH + 1, SEQ, seed=1)
    inputs = tmp_path / "inputs"
    reference.write_inputs(inputs, model, batch, rename=reference.peft_to_import_name)

    flags = ["--dtype", "f32", "--per_device_train_batch_size", str(SAMPLES),
             "--max_dynamic_patch", str(MAX_PATCH), "--use_thumbnail", "True",
             "--max_seq_length", str(SEQ),
             "--img_context_token_id", str(config.image_token_id),
             "--use_llm_lora", str(llm_rank), "--use_backbone_lora", str(vision_rank),
             "--lora_dropout", "0"]
    summary = run_tool("internvl-import", config_path, *flags, "--summary")
    theirs_lora = sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)
    assert summary_value(summary, "params lora") == theirs_lora
    assert summary_value(summary, "params trainable") == sum(
        p.numel() for n, p in model.named_parameters() if n in trainable)

    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", config_path, *flags, "-o", forward)
    step = tmp_path / "train_step.mlir"
    run_tool("internvl-opt", forward,
             f"--tg-autodiff=emit-gradients=true lr={LR} "
             f"weight-decay={WEIGHT_DECAY} max-grad-norm={MAX_NORM} eps={EPS}",
             "-o", step)
    dump = tmp_path / "dump"
    run_tool("internvl-run", step, "--entry", "train_step", "--inputs", inputs,
             "--dump", dump)

    loss, grads, updated = reference.reference_step(
        model, batch, trainable, LR, WEIGHT_DECAY, MAX_NORM, eps=EPS)
    grads = {reference.peft_to_import_name(n): g for n, g in grads.items()}
    updated = {reference.peft_to_import_name(n): p for n, p in updated.items()}

    assert abs(float(np.load(dump / "loss.npy")) - loss) <= TOLERANCE * abs(loss)
    ours = {p.stem[:-len(".grad")] for p in dump.glob("*.grad.npy")}
    assert ours == set(grads), "the parameters with a gradient differ"
    assert any(".lora_A." in n for n in ours) and any(".lora_B." in n for n in ours)
    failures = reference.step_failures(dump, grads, updated, TOLERANCE)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("model,llm_rank,vision_rank", [
    ("InternVL3_5-8B-HF", 16, 0), ("InternVL3_5-1B-HF", 128, 64),
    ("InternVL3_5-38B-HF", 16, 8)])
def test_lora_count_matches_peft(model, llm_rank, vision_rank):
    """PEFT's trainable-parameter count for a released model (built on the
    meta device) equals --summary's, at InternVL's ranks."""
    path = ROOT / "models" / f"{model}.json"
    raw = json.loads(path.read_text())
    with torch.device("meta"):
        hf = reference.InternVLForConditionalGeneration(reference.transformers_config(raw))
    trainable = reference.add_lora(hf, llm_rank, vision_rank)
    summary = run_tool("internvl-import", path, "--use_llm_lora", str(llm_rank),
                       "--use_backbone_lora", str(vision_rank), "--summary",
                       "--max_seq_length", "4096")
    params = dict(hf.named_parameters())
    assert summary_value(summary, "params lora") == sum(
        math.prod(p.shape) for n, p in params.items() if ".lora_" in n)
    assert summary_value(summary, "params trainable") == sum(
        math.prod(params[n].shape) for n in trainable)
    assert summary_value(summary, "params total") == sum(
        math.prod(p.shape) for p in params.values())
