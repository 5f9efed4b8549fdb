"""Hugging Face's InternVL in PyTorch as the reference for internvl-run.

Builds transformers' InternVLForConditionalGeneration from a tiny native
config, draws weights and a batch (images and IMG_CONTEXT tokens), writes
them as the .safetensors/.npy files internvl-run reads, and computes the
reference loss, gradients and one AdamW step.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import InternVLConfig, InternVLForConditionalGeneration


@dataclass
class Batch:
    pixel_values: torch.Tensor
    input_ids: torch.Tensor
    labels: torch.Tensor


def transformers_config(raw: dict, attention: str = "eager") -> InternVLConfig:
    """transformers' InternVLConfig of a native config.json, as the importer
    reads it, under transformers 4.57 and 5.x alike."""
    raw = {k: v for k, v in raw.items() if k not in ("architectures", "model_type")}
    config = InternVLConfig(**raw)
    # The LLM's own setting decides whether lm_head is the embedding; 5.x
    # reads the composite config's, which defaults to tied.
    config.tie_word_embeddings = getattr(config.text_config,
                                         "tie_word_embeddings", False)
    for c in (config, config.vision_config, config.text_config):
        c._attn_implementation = attention
    return config


def load_config(raw: dict) -> InternVLConfig:
    # The eager path is the plain math; it is what the tg ops define.
    return transformers_config(raw, "eager")


def build_model(config: InternVLConfig, seed: int) -> InternVLForConditionalGeneration:
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config).float()
    # Move every parameter off its special initial value (ones, zeros, 0.1)
    # so each gradient is exercised with generic numbers.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def make_batch(config: InternVLConfig, samples: int, tiles_per_sample: int,
               seq_len: int, seed: int) -> Batch:
    """Samples laid out as InternVL's: one text token, the IMG_CONTEXT run of
    all tiles, then text; loss on the second half of the text."""
    gen = torch.Generator().manual_seed(seed)
    vision = config.vision_config
    size = vision.image_size[0] if isinstance(vision.image_size, list) else vision.image_size
    patch = vision.patch_size[0] if isinstance(vision.patch_size, list) else vision.patch_size
    grid = size // patch
    tokens_per_tile = int(grid * config.downsample_ratio) ** 2
    image_tokens = tiles_per_sample * tokens_per_tile
    vocab = config.text_config.vocab_size
    image_id = config.image_token_id

    pixel_values = torch.randn(samples * tiles_per_sample, vision.num_channels,
                               size, size, generator=gen)
    ids = torch.randint(0, vocab, (samples, seq_len), generator=gen)
    ids[ids == image_id] = (image_id + 1) % vocab
    ids[:, 1:1 + image_tokens] = image_id
    labels = ids.clone()
    answer = 1 + image_tokens + (seq_len - 1 - image_tokens) // 2
    labels[:, :answer] = -100
    return Batch(pixel_values, ids, labels)


def write_inputs(directory: Path, model: InternVLForConditionalGeneration, batch: Batch,
                 rename=lambda name: name):
    """Weights as one .safetensors file under their HF names (through
    `rename`), the batch as .npy files named after @forward's inputs."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = {rename(n): p.detach().contiguous() for n, p in model.named_parameters()}
    save_file(weights, str(directory / "weights.safetensors"))
    np.save(directory / "pixel_values.npy", batch.pixel_values.numpy())
    np.save(directory / "input_ids.npy", batch.input_ids.numpy())
    np.save(directory / "labels.npy", batch.labels.numpy())


def reference_step(model, batch: Batch, trainable: set, lr: float,
                   weight_decay: float, max_grad_norm: float, eps: float = 1e-8,
                   loss_fn=None):
    """Loss, gradients (before clipping) and parameters after one AdamW step,
    with decay on parameters of rank >= 2 as --tg-autodiff applies it.
    `loss_fn(model)` computes the loss (default: the model's own on
    `batch`)."""
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in trainable)
    model.train()
    if loss_fn is None:
        loss = model(pixel_values=batch.pixel_values, input_ids=batch.input_ids,
                     labels=batch.labels).loss
    else:
        loss = loss_fn(model)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in params.items()
             if p.grad is not None}
    updated = [p for n, p in params.items() if n in grads]
    torch.nn.utils.clip_grad_norm_(updated, max_grad_norm)
    decay = [p for p in updated if p.dim() >= 2]
    no_decay = [p for p in updated if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.999), eps=eps)
    optimizer.step()
    new_params = {n: params[n].detach().clone() for n in grads}
    return loss.item(), grads, new_params


# PEFT's LoRA on transformers' InternVL, with InternVL's targets: every linear
# of every decoder layer (wrap_llm_lora) and of every InternViT layer
# (wrap_backbone_lora's attn.qkv, attn.proj, mlp.fc1, mlp.fc2, which the -hf
# layout splits into q/k/v_proj and projection_layer).
LLM_LORA_TARGETS = (r".*language_model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)"
                    r"|mlp\.(gate_proj|up_proj|down_proj))")
VISION_LORA_TARGETS = (r".*vision_tower\.encoder\.layer\.\d+\.(attention\.(q_proj|k_proj|v_proj"
                       r"|projection_layer)|mlp\.(fc1|fc2))")


def add_lora(model, llm_rank: int, vision_rank: int, dropout: float = 0.0):
    """Injects PEFT LoRA adapters (alpha = 2 * rank, as InternVL) in place and
    returns the names of the parameters that then train: the adapters, plus
    every parameter of a part without LoRA (the projector always)."""
    from peft import LoraConfig, inject_adapter_in_model
    targets = [t for t, r in ((LLM_LORA_TARGETS, llm_rank),
                              (VISION_LORA_TARGETS, vision_rank)) if r]
    base = llm_rank or vision_rank
    config = LoraConfig(
        r=base, lora_alpha=2 * base, lora_dropout=dropout,
        target_modules="|".join(f"(?:{t})" for t in targets),
        rank_pattern={r".*vision_tower.*": vision_rank} if vision_rank else {},
        alpha_pattern={r".*vision_tower.*": 2 * vision_rank} if vision_rank else {})
    inject_adapter_in_model(config, model)
    trainable = set()
    for name, _ in model.named_parameters():
        wrapped = (name.startswith("model.language_model.") or name.startswith("lm_head.")
                   if llm_rank else False) or (
                       name.startswith("model.vision_tower.") if vision_rank else False)
        if ".lora_" in name or not wrapped:
            trainable.add(name)
    return trainable


def peft_to_import_name(name: str) -> str:
    """PEFT's parameter name as internvl-import names it:
    `...q_proj.base_layer.weight` -> `...q_proj.weight`,
    `...q_proj.lora_A.default.weight` -> `...q_proj.lora_A.weight`."""
    return name.replace(".base_layer.", ".").replace(".default.", ".")


def step_failures(dump: Path, grads: dict, updated: dict, tolerance: float) -> list:
    """What differs between internvl-run's --dump of @train_step and the
    reference's gradients and updated parameters (by name), beyond
    `tolerance` relative L2 error. A gradient that is zero in exact
    arithmetic (the key bias of softmax attention without RoPE: it shifts
    every score of a row equally) is pure rounding noise on both sides; it is
    measured against 1e-6 of the whole gradient's norm instead of its own."""
    scale = 1e-6 * np.sqrt(sum(float(np.square(g.numpy(), dtype=np.float64).sum())
                               for g in grads.values()))
    failures = []
    for name, grad in grads.items():
        err = relative_error(np.load(dump / f"{name}.grad.npy"), grad.numpy(), floor=scale)
        if err > tolerance:
            failures.append(f"grad {name}: relative error {err:.2e}")
        err = relative_error(np.load(dump / f"{name}.npy"), updated[name].numpy())
        if err > tolerance:
            failures.append(f"updated {name}: relative error {err:.2e}")
    return failures


def relative_error(ours: np.ndarray, theirs: np.ndarray, floor: float = 0.0) -> float:
    """||ours - theirs|| / max(||theirs||, floor)."""
    denom = max(float(np.linalg.norm(theirs.astype(np.float64))), floor)
    diff = float(np.linalg.norm(ours.astype(np.float64) - theirs.astype(np.float64)))
    return diff / denom if denom > 0 else diff


def native_config(path: Path, **vision_overrides) -> dict:
    raw = json.loads(path.read_text())
    raw["vision_config"].update(vision_overrides)
    return raw
