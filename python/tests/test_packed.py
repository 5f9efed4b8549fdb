"""Packed sequences (InternVL's --use_packed_ds) against transformers'
InternVL run on each sample of the pack separately.

One pack holds three samples (two tiles; text only, with InternVL's dummy
tile of image_flags 0; one tile) and a padding segment, with strict_mode's
padding tile. The packed step's loss, every parameter gradient and one AdamW
step equal PyTorch's loss over the samples combined as InternVL's packed
loss does (sum_t w_t ce_t / sum_t w_t, w from --loss_reduction) to 1e-4 in
f32: varlen attention keeps the samples apart, RoPE restarts per sample.
"""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from internvl_opt import reference  # noqa: E402
from internvl_opt.tools import ROOT, run_tool  # noqa: E402

TOLERANCE = 1e-4
LR, WEIGHT_DECAY, MAX_NORM = 1e-3, 0.1, 1.0
PACK = 80
# (tiles, length) of each sample; 0 tiles: text only.
SAMPLES = [(2, 30), (0, 12), (1, 25)]
TILES = 5  # 2 + the text-only sample's dummy + 1 + strict_mode's padding


def len2weight(n, reduction):
    if n == 0:
        return 0.0
    return {"token": 1.0, "sample": 1.0 / n, "square": 1.0 / math.sqrt(n)}[reduction]


def make_pack(config, reduction, seed=1):
    """The pack as InternVL's packed_collate_fn hands it to the model, and
    each sample's own tensors."""
    gen = torch.Generator().manual_seed(seed)
    vision = config.vision_config
    size = vision.image_size[0] if isinstance(vision.image_size, list) else vision.image_size
    patch = vision.patch_size[0] if isinstance(vision.patch_size, list) else vision.patch_size
    per_tile = int((size // patch) * config.downsample_ratio) ** 2
    vocab, image_id = config.text_config.vocab_size, config.image_token_id

    pixel_values = torch.randn(TILES, vision.num_channels, size, size, generator=gen)
    ids = torch.randint(0, vocab, (PACK,), generator=gen)
    ids[ids == image_id] = (image_id + 1) % vocab
    labels = torch.full((PACK,), -100, dtype=torch.long)
    weights = torch.zeros(PACK)
    flags, cu, samples, tile, begin = [], [0], [], 0, 0
    for tiles, length in SAMPLES:
        end = begin + length
        image = tiles * per_tile
        ids[begin + 1:begin + 1 + image] = image_id
        answer = begin + 1 + image + (length - 1 - image) // 2
        labels[answer:end] = ids[answer:end]
        n = int((labels[begin:end] != -100).sum())
        weights[begin:end] = torch.where(labels[begin:end] != -100,
                                         len2weight(n, reduction), 0.0)
        sample_tiles = pixel_values[tile:tile + tiles] if tiles else None
        flags += [1] * tiles if tiles else [0]
        tile += max(tiles, 1)
        samples.append((begin, end, sample_tiles))
        cu.append(end)
        begin = end
    flags += [0] * (TILES - len(flags))
    cu.append(PACK)  # the padding segment
    cu += [PACK] * (PACK + 1 - len(cu))  # unused capacity: empty samples
    return {"pixel_values": pixel_values, "input_ids": ids[None], "labels": labels[None],
            "cu_seqlens": torch.tensor([cu]), "image_flags": torch.tensor(flags),
            "loss_weight": weights[None]}, samples


def packed_loss(model, pack, samples):
    """InternVL's packed loss, sample by sample: logits of each sample alone,
    shifted over the whole pack (a sample's last token predicts the next
    sample's first, which has no label)."""
    ids, labels, weights = pack["input_ids"][0], pack["labels"][0], pack["loss_weight"][0]
    total = 0.0
    for begin, end, tiles in samples:
        kwargs = {"pixel_values": tiles} if tiles is not None else {}
        logits = model(input_ids=ids[None, begin:end], **kwargs).logits[0]
        stop = min(end, PACK - 1)
        ce = torch.nn.functional.cross_entropy(
            logits[:stop - begin], labels[begin + 1:stop + 1],
            reduction="none", ignore_index=-100)
        total = total + (ce * weights[begin + 1:stop + 1]).sum()
    return total / weights[1:].sum()


def write_pack(directory, model, pack):
    reference.write_inputs(directory, model, reference.Batch(
        pack["pixel_values"], pack["input_ids"], pack["labels"]))
    for name in ("cu_seqlens", "image_flags", "loss_weight"):
        np.save(directory / f"{name}.npy", pack[name].numpy())


@pytest.mark.parametrize("llm,reduction", [("qwen3", "square"), ("qwen2", "token"),
                                           ("qwen3", "sample")])
def test_packed_step_matches_samples_run_apart(tmp_path, llm, reduction):
    raw = reference.native_config(ROOT / f"models/tiny/tiny-hf-{llm}.json")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(raw))
    config = reference.load_config(raw)
    model = reference.build_model(config, seed=0)
    pack, samples = make_pack(config, reduction)
    inputs = tmp_path / "inputs"
    write_pack(inputs, model, pack)

    forward = tmp_path / "forward.mlir"
    run_tool("internvl-import", config_path, "--dtype", "f32",
             "--per_device_train_batch_size", "1", "--max_dynamic_patch", "2",
             "--use_packed_ds", "True", "--max_packed_tokens", str(PACK),
             "--num_images_expected", str(TILES), "--loss_reduction", reduction,
             "--img_context_token_id", str(config.image_token_id), "-o", forward)
    step = tmp_path / "train_step.mlir"
    run_tool("internvl-opt", forward,
             f"--tg-autodiff=emit-gradients=true lr={LR} "
             f"weight-decay={WEIGHT_DECAY} max-grad-norm={MAX_NORM}", "-o", step)
    dump = tmp_path / "dump"
    run_tool("internvl-run", step, "--entry", "train_step", "--inputs", inputs,
             "--dump", dump)

    trainable = {n for n, _ in model.named_parameters()}
    loss, grads, updated = reference.reference_step(
        model, None, trainable, LR, WEIGHT_DECAY, MAX_NORM,
        loss_fn=lambda m: packed_loss(m, pack, samples))
    assert abs(float(np.load(dump / "loss.npy")) - loss) <= TOLERANCE * abs(loss)
    ours = {p.stem[:-len(".grad")] for p in dump.glob("*.grad.npy")}
    assert ours == set(grads), "the parameters with a gradient differ"
    failures = reference.step_failures(dump, grads, updated, TOLERANCE)
    assert not failures, "\n".join(failures)


def test_packing_changes_the_loss(tmp_path):
    """The same pack as one unpacked sequence (attention across samples,
    positions running on) gives another loss: the test above can fail."""
    raw = reference.native_config(ROOT / "models/tiny/tiny-hf-qwen3.json")
    config = reference.load_config(raw)
    model = reference.build_model(config, seed=0)
    pack, samples = make_pack(config, "token")
    with torch.no_grad():
        apart = float(packed_loss(model, pack, samples))
        used = pack["pixel_values"][pack["image_flags"] == 1]
        logits = model(input_ids=pack["input_ids"], pixel_values=used).logits[0]
        ce = torch.nn.functional.cross_entropy(logits[:-1], pack["labels"][0, 1:],
                                               reduction="none", ignore_index=-100)
        w = pack["loss_weight"][0, 1:]
        together = float((ce * w).sum() / w.sum())
    assert abs(apart - together) > 1e-3 * abs(apart)
