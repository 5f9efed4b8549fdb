"""InternVL's published fine-tune settings (models/finetune-settings.json) as
internvl-import flags."""

import json

from .tools import ROOT

SETTINGS = ROOT / "models" / "finetune-settings.json"


def published_settings() -> dict:
    """Model name -> {"gpus", "zero_stage", "flags"}."""
    data = json.loads(SETTINGS.read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def import_flags(setting: dict) -> list:
    """internvl-import flags for one model's setting, with its DeepSpeed
    config and world size."""
    flags = []
    for key, value in setting["flags"].items():
        flags += [f"--{key}", str(value)]
    stage = setting["zero_stage"]
    deepspeed = ROOT / "models" / "deepspeed" / f"zero_stage{stage}_config.json"
    flags += ["--deepspeed", str(deepspeed), "--world_size", str(setting["gpus"])]
    return flags
