"""Recomputation changes where values come from, never their bits: for every
tiny config and every combination of policies, internvl-run prints the same
output lines (loss, every updated parameter and optimizer state) with
--tg-remat as without. drop_path is on, so recomputed masks are checked too;
packed steps (varlen attention, per-sample positions, weighted loss) too,
and the fused loss in chunks of 5 tokens (rows split across chunks)."""

import itertools
import json
import re
import subprocess

import pytest

from internvl_opt.tools import ROOT, run_tool, tool

CONFIGS = ["tiny-vit300m-qwen2", "tiny-vit6b-internlm2", "tiny-vit6b-llama3",
           "tiny-vit300m-phi3", "tiny-hf-qwen2", "tiny-vit300m-qwen3", "tiny-hf-qwen3"]
POLICIES = ["force", "auto", "off"]
PACKED = ["--use_packed_ds", "True", "--max_packed_tokens", "64",
          "--num_images_expected", "5", "--loss_reduction", "square"]
VARIANTS = {"llm": ["--use_llm_lora", "4"],
            "llm+vision": ["--use_llm_lora", "4", "--use_backbone_lora", "2"],
            "packed": PACKED,
            "packed+llm": PACKED + ["--use_llm_lora", "4"]}
CASES = [(c, "") for c in CONFIGS] + [
    ("tiny-hf-qwen3", "llm+vision"), ("tiny-vit6b-internlm2", "llm"),
    ("tiny-vit300m-phi3", "llm+vision"), ("tiny-hf-qwen3", "packed"),
    ("tiny-vit300m-qwen2", "packed"), ("tiny-vit6b-llama3", "packed+llm")]


def peak(step, tmp_path, remat):
    out = tmp_path / "plan.json"
    run_tool("internvl-opt", step, f"--tg-remat={remat}", "--tg-plan-memory",
             "--tg-verify-memory-plan", f"--tg-export-memory-plan={out}",
             "-o", "/dev/null")
    return json.loads(out.read_text())["peak_bytes"]


@pytest.mark.parametrize("config,variant", CASES)
def test_remat_is_bit_identical(tmp_path, config, variant):
    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", ROOT / f"models/tiny/{config}.json",
             "--max_dynamic_patch", "2", "--use_thumbnail", "--max_seq_length", "24",
             "--per_device_train_batch_size", "2", "--drop_path_rate", "0.3",
             *VARIANTS.get(variant, []), "-o", forward)
    step = tmp_path / "step.mlir"
    run_tool("internvl-opt", forward, "--tg-autodiff", "-o", step)
    reference = run_tool("internvl-run", step)

    for vision, lm in itertools.product(POLICIES, POLICIES):
        remat = f"vision={vision} lm={lm}"
        if "auto" in (vision, lm):
            # A budget half-way between the plan that recomputes every auto
            # layer and the one that keeps them all.
            low = peak(step, tmp_path, remat.replace("auto", "force"))
            high = peak(step, tmp_path, remat.replace("auto", "off"))
            remat += f" budget={(low + high) // 2}"
        rewritten = tmp_path / "remat.mlir"
        run_tool("internvl-opt", step, f"--tg-remat={remat}", "--tg-plan-memory",
                 "--tg-verify-memory-plan", "-o", rewritten)
        assert run_tool("internvl-run", rewritten) == reference, remat

    # Whole layers re-run, as torch.utils.checkpoint does.
    rewritten = tmp_path / "full.mlir"
    run_tool("internvl-opt", step, "--tg-remat=vision=force lm=force prune=false",
             "--tg-plan-memory", "--tg-verify-memory-plan", "-o", rewritten)
    assert run_tool("internvl-run", rewritten) == reference

    # The fused lm_head + cross-entropy in chunks that split rows.
    rewritten = tmp_path / "chunked.mlir"
    run_tool("internvl-opt", step, "--tg-remat=vision=force lm=force loss-chunk=5",
             "--tg-plan-memory", "--tg-verify-memory-plan", "-o", rewritten)
    assert "chunk_tokens = 5 : i64" in rewritten.read_text()
    assert run_tool("internvl-run", rewritten) == reference


def deep_config(tmp_path, config, llm_layers=5, vision_layers=4):
    """`config` with more layers, so runs of layers have outputs to drop."""
    c = json.loads((ROOT / f"models/tiny/{config}.json").read_text())
    llm = c.get("llm_config", c.get("text_config"))
    llm["num_hidden_layers"] = llm_layers
    c["vision_config"]["num_hidden_layers"] = vision_layers
    path = tmp_path / f"{config}-deep.json"
    path.write_text(json.dumps(c))
    return path


DEEP_CASES = [("tiny-vit300m-qwen2", ""), ("tiny-vit6b-internlm2", "llm"),
              ("tiny-vit300m-phi3", "llm+vision"), ("tiny-hf-qwen3", "packed"),
              ("tiny-vit6b-llama3", "")]


def deep_step(tmp_path, config, variant):
    """The training step of `config` with more layers, and its output lines
    without recomputation."""
    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", deep_config(tmp_path, config),
             "--max_dynamic_patch", "2", "--use_thumbnail", "--max_seq_length", "24",
             "--per_device_train_batch_size", "2", "--drop_path_rate", "0.3",
             *VARIANTS.get(variant, []), "-o", forward)
    step = tmp_path / "step.mlir"
    run_tool("internvl-opt", forward, "--tg-autodiff", "-o", step)
    return step, run_tool("internvl-run", step)


def floor(step, levers):
    """The minimum feasible peak of `step` with `levers`, from --tg-remat's
    refusal of a 1 MiB budget."""
    refused = subprocess.run(
        [str(tool("internvl-opt")), str(step),
         f"--tg-remat=vision=auto lm=auto budget=1MiB levers={levers}",
         "-o", "/dev/null"], capture_output=True, text=True)
    return int(re.search(r"minimum feasible peak (\d+) bytes",
                         refused.stderr).group(1))


@pytest.mark.parametrize("config,variant", DEEP_CASES)
def test_segments_are_bit_identical(tmp_path, config, variant):
    """Segments re-run runs of layers from their first input in backward:
    fixed run lengths under force and auto, and auto at its floor (where it
    chooses segments), give the step's bits."""
    step, reference = deep_step(tmp_path, config, variant)
    lowest = floor(step, "recompute,segments,chunk-loss")
    for remat in ["vision=force lm=force segment-layers=2",
                  "vision=force lm=force segment-layers=3 prune=false",
                  "vision=off lm=auto segment-layers=4 budget=1TiB",
                  f"vision=auto lm=auto budget={lowest} "
                  "levers=recompute,segments,chunk-loss"]:
        rewritten = tmp_path / "segments.mlir"
        run_tool("internvl-opt", step, f"--tg-remat={remat}", "--tg-plan-memory",
                 "--tg-verify-memory-plan", "-o", rewritten)
        assert "segment_layers" in rewritten.read_text(), remat
        assert run_tool("internvl-run", rewritten) == reference, remat


@pytest.mark.parametrize("config,variant", DEEP_CASES)
def test_offload_is_bit_identical(tmp_path, config, variant):
    """The offload lever copies layer outputs to host memory and back: auto
    at its floor with every lever (where it offloads) gives the step's bits,
    and so does the offload lever alone under a budget between its floor and
    keeping everything."""
    step, reference = deep_step(tmp_path, config, variant)
    everything = floor(step, "recompute,segments,offload,chunk-loss")
    alone = floor(step, "offload")
    keep = peak(step, tmp_path, "vision=off lm=off")
    # A lever more never raises the floor; alone, offload must move
    # something to get below keeping everything.
    assert everything <= floor(step, "recompute,segments,chunk-loss")
    assert alone < keep
    for remat, moves in [(f"vision=auto lm=auto budget={everything}", False),
                         (f"vision=auto lm=auto levers=offload budget={alone}",
                          True)]:
        rewritten = tmp_path / "offload.mlir"
        run_tool("internvl-opt", step, f"--tg-remat={remat}", "--tg-plan-memory",
                 "--tg-verify-memory-plan", "-o", rewritten)
        text = rewritten.read_text()
        if moves:
            assert "tg.offload" in text and "tg.prefetch" in text, remat
        assert run_tool("internvl-run", rewritten) == reference, remat
