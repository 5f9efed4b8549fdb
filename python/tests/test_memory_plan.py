"""The exported memory plan: exactly the documented top-level fields, and a
third, independent check of the placement on the JSON alone (no two
buffers live at the same step overlap in bytes, unless one is written in
place over the other at the step where that one dies)."""

import json

import pytest

from internvl_opt.tools import ROOT, run_tool

FIELDS = {"function", "steps", "arena_bytes", "live_lower_bound_bytes",
          "persistent_bytes", "peak_bytes", "budget_bytes", "recompute_flops",
          "total_flops", "step_seconds", "roofline", "loss_chunk", "segments",
          "host_bytes", "offload_seconds", "buffers"}
BUFFER_FIELDS = {"name", "scope", "kind", "bytes", "offset", "start", "end"}
KINDS = {"saved_activation", "temporary", "gradient", "recomputed", "workspace",
         "output"}


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    forward = tmp / "forward.mlir"
    run_tool("internvl-import", ROOT / "models/tiny/tiny-vit6b-internlm2.json",
             "--max_dynamic_patch", "2", "--use_thumbnail", "--max_seq_length", "32",
             "--per_device_train_batch_size", "2", "--drop_path_rate", "0.1",
             "-o", forward)
    out = tmp / "plan.json"
    run_tool("internvl-opt", forward, "--tg-autodiff",
             "--tg-plan-memory=zero-stage=1 world-size=2",
             f"--tg-export-memory-plan={out}", "-o", tmp / "planned.mlir")
    return json.loads(out.read_text())


def test_schema(plan):
    assert set(plan) == FIELDS
    assert plan["function"] == "train_step"
    assert set(plan["persistent_bytes"]) == {"params", "master_params", "grads",
                                             "optimizer", "total"}
    p = plan["persistent_bytes"]
    assert p["total"] == p["params"] + p["master_params"] + p["grads"] + p["optimizer"]
    assert plan["peak_bytes"] == p["total"] + plan["arena_bytes"]
    assert plan["budget_bytes"] is None
    assert plan["recompute_flops"] == 0
    assert plan["total_flops"] > 0
    # No --tg-remat: the H100's roofline; the imported loss is one chunk of
    # the 2 x 32 tokens.
    assert plan["roofline"] == "h100" and plan["step_seconds"] > 0
    assert plan["loss_chunk"] == {"tokens": 64, "chunk_tokens": 64, "chunks": 1}
    # No segments without --tg-remat's segments lever, and nothing in host
    # memory without its offload lever.
    assert plan["segments"] == []
    assert plan["host_bytes"] == 0 and plan["offload_seconds"] == 0
    for b in plan["buffers"]:
        assert set(b) == BUFFER_FIELDS
        assert b["kind"] in KINDS
        assert b["bytes"] > 0 and b["bytes"] % 256 == 0
        assert 0 <= b["start"] <= b["end"] < plan["steps"]
        assert 0 <= b["offset"] and b["offset"] + b["bytes"] <= plan["arena_bytes"]


def test_placement_is_valid(plan):
    buffers = sorted(plan["buffers"], key=lambda b: b["offset"])
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if b["offset"] >= a["offset"] + a["bytes"]:
                break
            together = a["start"] <= b["end"] and b["start"] <= a["end"]
            assert not together, f"{a['name']} and {b['name']} overlap"


def test_lower_bound(plan):
    live = [0] * (plan["steps"] + 1)
    for b in plan["buffers"]:
        live[b["start"]] += b["bytes"]
        live[b["end"] + 1] -= b["bytes"]
    running, peak = 0, 0
    for delta in live:
        running += delta
        peak = max(peak, running)
    assert peak == plan["live_lower_bound_bytes"]
    assert plan["arena_bytes"] >= peak
