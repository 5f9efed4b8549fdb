"""InternVL's published fine-tune settings (models/finetune-settings.json) as
internvl-import flags."""

import json

from .tools import ROOT

SETTINGS = ROOT / "models" / "finetune-settings.json"


def all_settings() -> dict:
    """Model name -> {"gpus", "zero_stage", "flags"} plus, for InternVL3.5,
    "packing" (the packed-dataset flags) and "moe"."""
    data = json.loads(SETTINGS.read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


# Packed-dataset flags of InternVL's recipes that shape no tensor of the
# step: how the loader fills its buffers, restarts and drops samples.
LOADER_ONLY_PACKING = ("max_buffer_size", "replacement", "allow_overflow")


def waits_for(setting: dict) -> str:
    """Why a published setting cannot be planned yet, or ""."""
    if setting.get("moe"):
        return "its LLM has mixture-of-experts layers, which the importer refuses"
    return ""


def published_settings() -> dict:
    """The settings that can be planned today: model name -> {"gpus",
    "zero_stage", "flags"[, "packing"]} (the MoE models wait; see
    waits_for)."""
    return {k: v for k, v in all_settings().items() if not waits_for(v)}


def is_packed(setting: dict) -> bool:
    return bool(setting.get("packing", {}).get("use_packed_ds"))


def import_flags(setting: dict) -> list:
    """internvl-import flags for one model's setting, with its DeepSpeed
    config and world size."""
    flags = []
    for key, value in setting["flags"].items():
        flags += [f"--{key}", str(value)]
    if is_packed(setting):
        for key, value in setting["packing"].items():
            if key not in LOADER_ONLY_PACKING:
                flags += [f"--{key}", str(value)]
    stage = setting["zero_stage"]
    deepspeed = ROOT / "models" / "deepspeed" / f"zero_stage{stage}_config.json"
    flags += ["--deepspeed", str(deepspeed), "--world_size", str(setting["gpus"])]
    return flags
