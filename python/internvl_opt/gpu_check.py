"""The GPU check of compiled training steps (scripts/gpu-check.sh).

Two halves, because the GPU machine has CUDA, PyTorch and transformers but
no MLIR and no network:

* ``prepare`` (here, after scripts/bootstrap.sh): imports a tiny and a
  mid-size InternVL (HF format, Qwen2 LLM), compiles each step for CUDA with
  every gradient among the results, and for the tiny one also the CPU twin,
  whose results (one step from seed 0) become the expected values. All of it
  lands in out/gpu-check/, which is carried to the GPU machine.
* ``run`` (on the GPU): first the kernel conformance suite built for CUDA
  (every runtime entry point against its f64 reference and against the CPU
  kernel's outputs on the same inputs, recorded by ``prepare``; one line per
  kernel, test/conformance), then runs the CUDA steps and reports

  - tiny: loss, gradients and updated parameters against the CPU twin;
  - tiny-zero3: the same step lowered for ZeRO stage 3 on one rank, its
    collectives on an NCCL communicator of size 1, against its CPU twin;
  - tiny-packed: a packed Qwen3 step (varlen attention, RoPE positions per
    sample, InternVL's weighted loss) against its CPU twin;
  - tiny-chunked: the tiny step with the fused lm_head + cross-entropy in
    chunks of 5 tokens against its CPU twin;
  - tiny-offload: the tiny step with every layer output offloaded to pinned
    host memory on the copy stream, against its CPU twin;
  - both: step time, tokens/s, planned peak against measured device memory;
  - mid: the loss and gradients of PyTorch (transformers' InternVL, eager,
    bf16 autocast over f32 weights) at the very same weights and batch, and
    PyTorch's step time and memory with HF gradient checkpointing and AdamW.

Tolerances (bf16 storage, f32 accumulation in a different order on each
side; documented in docs/compile.md): loss within 1% relative; each
gradient within 5% relative L2 error (gradients whose norm is below 1e-6 of
the whole gradient's are measured against that scale); parameters after the
update within 1% relative L2 error.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "gpu-check"

LOSS_TOLERANCE = 1e-2
GRAD_TOLERANCE = 5e-2
PARAM_TOLERANCE = 1e-2

TINY_FLAGS = ["--per_device_train_batch_size", "2", "--max_dynamic_patch", "2",
              "--use_thumbnail", "True", "--max_seq_length", "24"]
PACKED_FLAGS = ["--per_device_train_batch_size", "2", "--max_dynamic_patch", "2",
                "--use_packed_ds", "True", "--max_packed_tokens", "64",
                "--num_images_expected", "5", "--loss_reduction", "square"]
# name: (config, import flags, timed steps)
CONFIGS = {
    "tiny": ("models/tiny/tiny-hf-qwen2.json", TINY_FLAGS, 20),
    # The ZeRO stage 3 step (every collective) on an NCCL communicator of one
    # rank, against the CPU twin of the same step.
    "tiny-zero3": ("models/tiny/tiny-hf-qwen2.json", TINY_FLAGS, 20),
    # A packed step (varlen attention, per-sample positions, the weighted
    # loss; the runner makes the packs) against its CPU twin.
    "tiny-packed": ("models/tiny/tiny-hf-qwen3.json", PACKED_FLAGS, 20),
    # The fused loss in chunks of 5 tokens (rows split across chunks, dW
    # summed in f32 across them) against its CPU twin.
    "tiny-chunked": ("models/tiny/tiny-hf-qwen2.json", TINY_FLAGS, 20),
    # Every layer output offloaded to pinned host memory and prefetched back
    # on the copy stream (events, ivl_copy_wait) against its CPU twin.
    "tiny-offload": ("models/tiny/tiny-hf-qwen2.json", TINY_FLAGS, 20),
    "mid": ("models/mid/mid-hf-qwen2.json",
            ["--per_device_train_batch_size", "2", "--max_dynamic_patch", "1",
             "--max_seq_length", "1024"], 6),
}
# InternVL's fine-tuning optimizer settings; InternVL checkpoints the vision
# encoder and (with --grad_checkpoint True) every LLM layer.
AUTODIFF = "emit-gradients=true lr=4e-5 weight-decay=0.05"
REMAT = "vision=force lm=force"
REMAT_FOR = {"tiny-chunked": REMAT + " loss-chunk=5",
             "tiny-offload": REMAT + " offload-outputs=true"}
DATA_PARALLEL = {"tiny-zero3": ["--world-size=1", "--zero-stage=3",
                                "--reduce-bucket-size=20000"]}


def checked_against_cpu(name):
    return name.startswith("tiny")


def tool(name):
    build = Path(os.environ.get("INTERNVL_BUILD_DIR", ROOT / "build"))
    return str(build / "bin" / name)


def run(*args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            **kwargs)
    if result.returncode != 0:
        sys.exit(f"gpu-check: {' '.join(map(str, args))} failed:\n"
                 f"{result.stdout}\n{result.stderr}")
    return result


# ---------------------------------------------------------------- prepare ---

def prepare():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (config, flags, _) in CONFIGS.items():
        directory = OUT / name
        directory.mkdir(exist_ok=True)
        forward = directory / "forward.mlir"
        run(tool("internvl-import"), ROOT / config, *flags, "-o", forward)
        targets = ["cuda", "cpu"] if checked_against_cpu(name) else ["cuda"]
        for target in targets:
            out = run(tool("internvl-compile"), forward, f"--target={target}",
                      f"--autodiff={AUTODIFF}",
                      f"--remat={REMAT_FOR.get(name, REMAT)}",
                      *DATA_PARALLEL.get(name, []), "-o", directory / target)
            print(out.stdout, end="")
            # The planned module is not needed on the GPU machine.
            (directory / target / "train_step.mlir").unlink()
        forward.unlink()
    # The kernel conformance suite, built for CUDA with the project.
    conformance = Path(tool("kernel-conformance-cuda"))
    if not conformance.exists():
        sys.exit(f"gpu-check: {conformance} is missing: build with the CUDA "
                 "toolkit (scripts/bootstrap.sh)")
    (OUT / "conformance").mkdir(exist_ok=True)
    shutil.copy2(conformance, OUT / "conformance" / conformance.name)
    # The CPU kernels' outputs on the suite's inputs, which the CUDA kernels
    # are compared with there.
    out = run(tool("kernel-conformance"), "--record",
              OUT / "conformance" / "cpu-record.bin")
    print(out.stdout.splitlines()[-1])
    # The CPU twins' results are the tiny steps' expected values.
    for name in CONFIGS:
        if checked_against_cpu(name):
            run(OUT / name / "cpu" / "run-step", "--steps", "1", "--dump",
                OUT / name / "expected")
    print(f"gpu-check: prepared {OUT}")


# -------------------------------------------------------------------- run ---

def relative_error(ours, theirs, floor=0.0):
    ours = ours.astype(np.float64)
    theirs = theirs.astype(np.float64)
    denom = max(float(np.linalg.norm(theirs)), floor)
    diff = float(np.linalg.norm(ours - theirs))
    return diff / denom if denom > 0 else diff


def timing(stderr):
    """Step time, tokens/s and memory from run-step's report."""
    step = re.search(r"step time ([0-9.]+) ms", stderr)
    tokens = re.search(r", ([0-9]+) tokens/s", stderr)
    memory = re.search(r"planned peak ([0-9.]+) GiB .*allocated ([0-9.]+) GiB "
                       r".*device in use ([0-9.]+) GiB, device peak ([0-9.]+) GiB",
                       stderr)
    device = re.search(r" on (.*?): \d+ step", stderr)
    return {
        "device": device.group(1) if device else "?",
        "step_ms": float(step.group(1)) if step else float("nan"),
        "tokens_per_s": float(tokens.group(1)) if tokens else float("nan"),
        "planned_gib": float(memory.group(1)) if memory else float("nan"),
        "allocated_gib": float(memory.group(2)) if memory else float("nan"),
        "device_gib": float(memory.group(3)) if memory else float("nan"),
        "device_peak_gib": float(memory.group(4)) if memory else float("nan"),
    }


def compare(got, expected, names):
    """Worst relative errors of the loss, gradients and updated parameters."""
    loss = relative_error(np.load(got / "loss.npy"), np.load(expected / "loss.npy"))
    grads = [p for p in expected.glob("*.grad.npy")]
    scale = 1e-6 * np.sqrt(sum(float(np.square(np.load(p), dtype=np.float64).sum())
                               for p in grads))
    worst_grad = max(((relative_error(np.load(got / p.name), np.load(p), scale), p.stem)
                      for p in grads), default=(0.0, "-"))
    params = [expected / f"{n}.npy" for n in names if (expected / f"{n}.npy").exists()]
    worst_param = max(((relative_error(np.load(got / p.name), np.load(p)), p.stem)
                       for p in params), default=(0.0, "-"))
    return loss, worst_grad, worst_param


def parameter_names(manifest):
    return [a["name"] for a in manifest["arguments"] if a["kind"] == "param"]


def torch_reference(config_path, inputs, manifest, steps, device="cuda"):
    """PyTorch at our weights and batch (transformers' InternVL, SDPA
    attention, bf16 autocast over f32 weights): the loss and gradients of one
    step, then `steps` timed steps with HF gradient checkpointing, gradient
    clipping and AdamW."""
    import torch
    from transformers import InternVLForConditionalGeneration

    from internvl_opt.reference import transformers_config

    config = transformers_config(json.loads(Path(config_path).read_text()),
                                 "sdpa")
    model = InternVLForConditionalGeneration(config).float().to(device)
    state = {n: torch.from_numpy(np.load(inputs / f"{n}.npy"))
             for n in parameter_names(manifest)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        sys.exit(f"gpu-check: parameters PyTorch does not know: {unexpected[:5]}")
    # Buffers (rotary inverse frequencies) are PyTorch's own; a parameter
    # left at its random initial value would make the comparison meaningless.
    params = {n for n, _ in model.named_parameters()}
    if [m for m in missing if m in params]:
        sys.exit("gpu-check: parameters the step does not have: "
                 f"{[m for m in missing if m in params][:5]}")
    batch = {k: torch.from_numpy(np.load(inputs / f"{k}.npy")).to(device)
             for k in ("pixel_values", "input_ids", "labels")}
    batch["pixel_values"] = batch["pixel_values"].float()
    model.train()
    cuda = device == "cuda"

    def step():
        with torch.autocast(device, dtype=torch.bfloat16):
            out = model(**batch)
        out.loss.backward()
        return out

    loss = step().loss.item()
    grads = {n: p.grad.detach().float().cpu().numpy()
             for n, p in model.named_parameters() if p.grad is not None}

    model.config.use_cache = False
    model.config.text_config.use_cache = False
    model.gradient_checkpointing_enable()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05},
         {"params": no_decay, "weight_decay": 0.0}], lr=4e-5)
    model.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    mean = sum(times[1:]) / max(1, len(times) - 1) if len(times) > 1 else times[0]
    gib = 2 ** 30
    return {
        "loss": loss,
        "grads": grads,
        "step_ms": mean * 1e3,
        "tokens_per_s": manifest["tokens_per_step"] / mean,
        "peak_gib": torch.cuda.max_memory_allocated() / gib if cuda else float("nan"),
        "reserved_gib": torch.cuda.max_memory_reserved() / gib if cuda else float("nan"),
    }


def compare_with_torch(got, torch_result):
    """Relative loss error, and the median and worst gradient errors."""
    ours_loss = float(np.load(got / "loss.npy"))
    loss = abs(ours_loss - torch_result["loss"]) / abs(torch_result["loss"])
    grads = torch_result["grads"]
    scale = 1e-6 * np.sqrt(sum(float(np.square(g, dtype=np.float64).sum())
                               for g in grads.values()))
    errors = sorted((relative_error(np.load(got / f"{n}.grad.npy"), g, scale), n)
                    for n, g in grads.items() if (got / f"{n}.grad.npy").exists())
    worst = errors[-1] if errors else (0.0, "-")
    median = errors[len(errors) // 2][0] if errors else 0.0
    return ours_loss, loss, median, worst, len(errors)


# The shared libraries the CUDA steps and the conformance suite load, by the
# soname they were linked against (readelf -d shows them).
CUDA_LIBRARIES = ("libcublasLt.so", "libcublas.so", "libnccl.so")


def library_directories():
    """Where this machine keeps CUDA's libraries: the toolkit, the system, and
    the pip packages PyTorch brings (nvidia-cublas, nvidia-nccl-cu13), which
    is where a machine without a full toolkit has them."""
    candidates = [Path("/usr/local/cuda/lib64"), Path("/usr/local/cuda/lib"),
                  Path("/usr/local/cuda/targets/x86_64-linux/lib"),
                  Path("/usr/lib/x86_64-linux-gnu")]
    candidates += sorted(Path("/usr/local").glob("cuda-*/lib64"))
    for entry in sys.path:
        nvidia = Path(entry) / "nvidia"
        if nvidia.is_dir():
            candidates += sorted(nvidia.glob("*/lib"))
    return [c for c in candidates if c.is_dir()]


def needed_libraries(binary):
    """The CUDA sonames `binary` needs (libcublasLt.so.13, ...)."""
    try:
        out = subprocess.run(["readelf", "-d", str(binary)],
                             capture_output=True, text=True).stdout
    except FileNotFoundError:  # no binutils: leave it to the loader
        return []
    names = re.findall(r"Shared library: \[([^\]]+)\]", out)
    return [n for n in names if n.startswith(CUDA_LIBRARIES)]


def find_cuda_libraries(binaries, say):
    """Puts the directories holding the sonames `binaries` need on
    LD_LIBRARY_PATH and says which file each one resolves to; False, with
    what is missing, when one is nowhere."""
    needed = sorted({n for b in binaries for n in needed_libraries(b)})
    found, missing = {}, []
    directories = library_directories()
    for soname in needed:
        for d in directories:
            if (d / soname).exists():
                found[soname] = d / soname
                break
        else:
            missing.append(soname)
    for soname, path in found.items():
        say(f"library: {soname} -> {path.resolve()}")
    if missing:
        say(f"library: not found on this machine: {', '.join(missing)} "
            f"(looked in {', '.join(map(str, directories))})")
        return False
    dirs = list(dict.fromkeys(str(p.parent) for p in found.values()))
    os.environ["LD_LIBRARY_PATH"] = ":".join(
        dirs + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p])
    return True


def run_conformance(say):
    """Runs the CUDA kernel conformance suite, printing its lines as they
    come; True when every kernel is within tolerance."""
    binary = OUT / "conformance" / "kernel-conformance-cuda"
    say("## kernel conformance (CUDA kernels against the f64 reference and "
        "the CPU kernels)")
    process = subprocess.Popen([str(binary), "--against",
                                str(OUT / "conformance" / "cpu-record.bin")],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        say(line.rstrip())
    code = process.wait()
    say("")
    return code == 0


def run_checks():
    report = []

    def say(line):
        # Each stage's result is printed as it is known, so a run cut short
        # still reports what it reached.
        print(line, flush=True)
        report.append(line)

    binaries = [OUT / "conformance" / "kernel-conformance-cuda"] + [
        OUT / name / "cuda" / "libstep.so" for name in CONFIGS]
    if not find_cuda_libraries(binaries, say):
        return 1
    say("")
    failed = not run_conformance(say)
    for name, (_, _, steps) in CONFIGS.items():
        directory = OUT / name
        runner = directory / "cuda" / "run-step"
        manifest = json.loads((directory / "cuda" / "step.json").read_text())
        got = directory / "got"
        run(runner, "--steps", "1", "--dump", got, "--dump-inputs",
            directory / "inputs")
        timed = timing(run(runner, "--steps", str(steps)).stderr)
        say(f"## {name}: {manifest['model']}, "
            f"{manifest['tokens_per_step']} tokens per step")
        say(f"device: {timed['device']}")
        say(
            f"compiled step: {timed['step_ms']:.2f} ms, "
            f"{timed['tokens_per_s']:.0f} tokens/s (mean of steps 2-{steps}); "
            f"planned peak {timed['planned_gib']:.3f} GiB, allocated "
            f"{timed['allocated_gib']:.3f} GiB, device in use "
            f"{timed['device_gib']:.3f} GiB (peak {timed['device_peak_gib']:.3f})")
        if checked_against_cpu(name):
            loss, (grad, grad_name), (param, param_name) = compare(
                got, directory / "expected", parameter_names(manifest))
            ok = (loss <= LOSS_TOLERANCE and grad <= GRAD_TOLERANCE
                  and param <= PARAM_TOLERANCE)
            failed |= not ok
            say(
                f"vs the CPU twin: loss {loss:.2e}, worst gradient {grad:.2e} "
                f"({grad_name}), worst updated parameter {param:.2e} "
                f"({param_name}): {'PASS' if ok else 'FAIL'}")
        else:
            torch_result = torch_reference(ROOT / CONFIGS[name][0],
                                           directory / "inputs", manifest, steps)
            ours_loss, loss, median, (worst, worst_name), _ = compare_with_torch(
                got, torch_result)
            ok = loss <= LOSS_TOLERANCE and worst <= GRAD_TOLERANCE
            failed |= not ok
            say(
                f"vs PyTorch (bf16 autocast, f32 weights): loss {ours_loss:.5f} vs "
                f"{torch_result['loss']:.5f} ({loss:.2e}); gradients median "
                f"{median:.2e}, worst {worst:.2e} ({worst_name}): "
                f"{'PASS' if ok else 'FAIL'}")
            say(
                f"PyTorch eager + HF gradient checkpointing + AdamW: "
                f"{torch_result['step_ms']:.2f} ms, "
                f"{torch_result['tokens_per_s']:.0f} tokens/s, peak allocated "
                f"{torch_result['peak_gib']:.3f} GiB (reserved "
                f"{torch_result['reserved_gib']:.3f}); compiled/PyTorch step time "
                f"{timed['step_ms'] / torch_result['step_ms']:.2f}x")
        say("")
    (OUT / "report.md").write_text("\n".join(report))
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["prepare", "run"])
    args = parser.parse_args()
    if args.action == "prepare":
        prepare()
        return 0
    return run_checks()


if __name__ == "__main__":
    sys.exit(main())
