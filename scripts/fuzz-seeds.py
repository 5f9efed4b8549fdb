#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (test/fuzz) into OUT/<target>/.

  scripts/fuzz-seeds.py OUT [--tools BUILD/bin]

Seeds come from the tree, so they follow the formats as they change:
  import      models/tiny and three released configs, each under several
              lines of fine-tune flags;
  pipeline    every `// -----` chunk of the lit tests under test/Dialect and
              test/Conversion, and (with --tools) small imported models;
  plan        (with --tools) those models and test chunks planned by
              internvl-opt, plus the hand-broken plans of
              verify-memory-plan-errors.mlir;
  tensor-io   .npy files of every dtype the reader takes (0-d, empty and
              2-d) and .safetensors files, written here byte by byte.
Only the standard library is used: lit's Python runs it too.
"""

import argparse
import json
import pathlib
import struct
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

FLAG_LINES = [
    "--max_dynamic_patch 1 --max_seq_length 16 --per_device_train_batch_size 1",
    "--max_dynamic_patch 2 --use_thumbnail True --max_seq_length 24 "
    "--per_device_train_batch_size 2 --freeze_backbone True --drop_path_rate 0.1",
    "--max_dynamic_patch 1 --max_seq_length 32 --dtype f32 --freeze_llm "
    "--unfreeze_lm_head --vision_select_layer -2",
    "--max_dynamic_patch 6 --use_thumbnail --max_seq_length 4096 "
    "--per_device_train_batch_size 4 --freeze_backbone True",
    "--max_dynamic_patch 2 --max_seq_length 24 --per_device_train_batch_size 2 "
    "--use_llm_lora 4 --use_backbone_lora 2 --lora_dropout 0.1",
    "--max_dynamic_patch 2 --use_packed_ds True --max_packed_tokens 64 "
    "--num_images_expected 5 --loss_reduction square --max_samples_per_pack 8",
    "--max_dynamic_patch 2 --use_thumbnail --max_seq_length 64 --tiles_per_sample 2",
]


def write(path: pathlib.Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def chunks(path: pathlib.Path):
    for i, chunk in enumerate(path.read_text().split("// -----")):
        if "func.func" in chunk:
            yield i, chunk


def import_seeds(out: pathlib.Path) -> None:
    configs = sorted((ROOT / "models" / "tiny").glob("*.json"))
    configs += [ROOT / "models" / "InternVL2-8B.json",
                ROOT / "models" / "InternVL3-1B.json",
                ROOT / "models" / "InternVL3_5-1B-HF.json"]
    for config in configs:
        text = config.read_text()
        for k, flags in enumerate(FLAG_LINES):
            write(out / f"{config.stem}-{k}", flags + "\n" + text)


def test_chunks():
    files = sorted((ROOT / "test" / "Dialect").rglob("*.mlir"))
    files += sorted((ROOT / "test" / "Conversion").rglob("*.mlir"))
    for f in files:
        for i, chunk in chunks(f):
            yield f"{f.stem}-{i}", chunk


def run(tools: pathlib.Path, args, stdin=None):
    result = subprocess.run([str(tools / args[0])] + args[1:], input=stdin,
                            capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def small_models(tools: pathlib.Path):
    """@forward of each tiny config at its smallest shapes, and packed."""
    for config in sorted((ROOT / "models" / "tiny").glob("*.json")):
        text = run(tools, ["internvl-import", str(config), "--max_dynamic_patch",
                           "1", "--max_seq_length", "16",
                           "--per_device_train_batch_size", "1"])
        if text:
            yield config.stem, text
        text = run(tools, ["internvl-import", str(config), "--max_dynamic_patch",
                           "1", "--use_packed_ds", "True", "--max_packed_tokens", "24",
                           "--num_images_expected", "2", "--max_samples_per_pack", "4",
                           "--per_device_train_batch_size", "1"])
        if text:
            yield f"{config.stem}-packed", text


def pipeline_seeds(out: pathlib.Path, tools) -> None:
    for name, chunk in test_chunks():
        write(out / name, chunk)
    if tools:
        for name, text in small_models(tools):
            write(out / f"model-{name}", text)


def plan_seeds(out: pathlib.Path, tools) -> None:
    verify = ROOT / "test" / "Dialect" / "TG" / "verify-memory-plan-errors.mlir"
    for i, chunk in chunks(verify):
        write(out / f"broken-{i}", chunk)
    if not tools:
        return
    sources = list(test_chunks()) + [(f"model-{n}", t)
                                     for n, t in small_models(tools)]
    pipelines = {"plain": ["--tg-autodiff", "--tg-plan-memory"],
                 "step": ["--tg-plan-memory"],
                 "remat": ["--tg-autodiff", "--tg-remat=vision=force lm=force",
                           "--tg-plan-memory"],
                 "offload": ["--tg-autodiff",
                             "--tg-remat=vision=force lm=force offload-outputs=true",
                             "--tg-plan-memory"],
                 "zero3": ["--tg-autodiff",
                           "--tg-data-parallel=world-size=2 zero-stage=3",
                           "--tg-plan-memory"]}
    for name, text in sources:
        for kind, pipeline in pipelines.items():
            planned = run(tools, ["internvl-opt", "-"] + pipeline, stdin=text)
            if planned and "tg.memory_plan" in planned:
                write(out / f"{name}-{kind}", planned)


def npy(descr: str, shape, payload: bytes) -> bytes:
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, dims)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) +
            header.encode() + payload)


def safetensors(tensors) -> bytes:
    header, payload = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + payload


def tensor_seeds(out: pathlib.Path) -> None:
    floats = [0.0, 1.0, -2.5, 3.0e4, 1.0e-3, float("inf")]
    ints = [0, 1, -2, 30000, 1, 127]
    for descr, fmt in {"<f4": "<f", "<f8": "<d", "<i8": "<q",
                       "<i4": "<i"}.items():
        values = ints if descr[1] == "i" else floats
        data = b"".join(struct.pack(fmt, v) for v in values)
        kind = descr[1:]
        write(out / f"npy-{kind}-2x3", npy(descr, (2, 3), data))
        write(out / f"npy-{kind}-scalar",
              npy(descr, (), data[:struct.calcsize(fmt)]))
        write(out / f"npy-{kind}-empty", npy(descr, (0, 4), b""))
    write(out / "npy-f2-4", npy("<f2", (4,), struct.pack("<4e", 1.0, -2.0, 0.5, 65504.0)))
    write(out / "npy-b1-3", npy("|b1", (3,), bytes([1, 0, 1])))
    bf16 = struct.pack("<4H", 0x3F80, 0xC000, 0x3F00, 0x7F80)
    write(out / "safetensors-mixed", safetensors({
        "w": ("BF16", (2, 2), bf16),
        "b": ("F32", (2,), struct.pack("<2f", 0.5, -1.0)),
        "ids": ("I64", (1, 3), struct.pack("<3q", 1, 2, 127)),
        "mask": ("BOOL", (2,), bytes([1, 0])),
        "h": ("F16", (1,), struct.pack("<e", 3.0)),
        "d": ("F64", (1,), struct.pack("<d", 2.0)),
        "i": ("I32", (2,), struct.pack("<2i", -1, 5)),
    }))
    write(out / "safetensors-empty", safetensors({"e": ("F32", (0, 3), b"")}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--tools", type=pathlib.Path,
                        help="build/bin, to import and plan models for seeds")
    args = parser.parse_args()
    import_seeds(args.out / "import")
    pipeline_seeds(args.out / "pipeline", args.tools)
    plan_seeds(args.out / "plan", args.tools)
    tensor_seeds(args.out / "tensor-io")
    for target in ("import", "pipeline", "plan", "tensor-io"):
        n = len(list((args.out / target).iterdir()))
        print(f"fuzz-seeds: {n} seeds for fuzz-{target} in {args.out / target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
