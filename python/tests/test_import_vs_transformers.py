"""internvl-import against transformers' own InternVL: for a native (-hf)
config, the imported @forward has exactly the parameters, names and shapes of
InternVLForConditionalGeneration built from the same config."""

import json
import math

import pytest

from internvl_opt.tools import ROOT, function_arguments, run_tool

transformers = pytest.importorskip("transformers")


def hf_model(config_path):
    raw = json.loads(config_path.read_text())
    raw = {k: v for k, v in raw.items() if k not in ("architectures", "model_type")}
    config = transformers.InternVLConfig(**raw)
    return transformers.InternVLForConditionalGeneration(config)


@pytest.mark.parametrize("norm,qk_norm", [("layer_norm", False), ("rms_norm", True)])
def test_parameters_match_transformers(tmp_path, norm, qk_norm):
    raw = json.loads((ROOT / "models/tiny/tiny-hf-qwen2.json").read_text())
    raw["vision_config"].update(norm_type=norm, use_qk_norm=qk_norm)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(raw))

    mlir = run_tool("internvl-import", config, "--max_dynamic_patch", "1",
                    "--max_seq_length", "16")
    ours = {a.name: a.shape for a in function_arguments(mlir) if a.kind == "param"}
    theirs = {n: tuple(p.shape) for n, p in hf_model(config).named_parameters()}

    assert sorted(ours) == sorted(theirs)
    assert {n: ours[n] for n in theirs} == theirs


def test_parameter_count_matches_transformers():
    config = ROOT / "models/tiny/tiny-hf-qwen2.json"
    summary = run_tool("internvl-import", config, "--summary")
    total = int(next(l for l in summary.splitlines() if l.startswith("params total")).split()[-1])
    expected = sum(math.prod(p.shape) for p in hf_model(config).parameters())
    assert total == expected


def test_qwen3_parameters_match_transformers():
    """The Qwen3 decoder (InternVL3.5): q_norm/k_norm per head, no qkv bias,
    head_dim apart from hidden_size / heads."""
    config = ROOT / "models/tiny/tiny-hf-qwen3.json"
    mlir = run_tool("internvl-import", config, "--max_dynamic_patch", "1",
                    "--max_seq_length", "16")
    ours = {a.name: a.shape for a in function_arguments(mlir) if a.kind == "param"}
    theirs = {n: tuple(p.shape) for n, p in hf_model(config).named_parameters()}
    assert ours == theirs


@pytest.mark.parametrize("size", ["1B", "2B", "4B", "8B", "14B", "38B"])
def test_internvl3_5_matches_transformers(size):
    """Each released dense InternVL3.5 (-HF config), built by transformers on
    the meta device: the same parameter names, shapes and total as the
    import, and the original-format file imports to the same total."""
    torch = pytest.importorskip("torch")
    config = ROOT / f"models/InternVL3_5-{size}-HF.json"
    mlir = run_tool("internvl-import", config, "--max_dynamic_patch", "1",
                    "--max_seq_length", "512", "--per_device_train_batch_size", "1")
    ours = {a.name: a.shape for a in function_arguments(mlir) if a.kind == "param"}
    with torch.device("meta"):
        theirs = {n: tuple(p.shape) for n, p in hf_model(config).named_parameters()}
    assert ours == theirs

    def total(path):
        summary = run_tool("internvl-import", path, "--summary")
        return int(next(l for l in summary.splitlines()
                        if l.startswith("params total")).split()[-1])
    assert total(config) == sum(math.prod(s) for s in theirs.values())
    assert total(ROOT / f"models/InternVL3_5-{size}.json") == total(config)
