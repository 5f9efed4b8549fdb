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
