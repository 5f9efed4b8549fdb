"""The MPI twin of data-parallel training against one process.

A tiny InternVL step compiled for W ranks (ZeRO stages 0 to 3) and
started with `mpirun -np W`, each rank on its slice of a global batch, must
update the parameters as one process does on the whole global batch.

Bit-identity is not possible across the two: each rank's bf16 gradients
are averaged in f32 where the single process sums its batch inside each
kernel. The documented tolerance is that of one AdamW step: every element
within 2 lr + 1 bf16 ulp of the single-process value (AdamW's first update
is about lr in size, and a rounding-level gradient difference may flip its
sign), and the relative L2 error of all parameters together below 1e-4.
The stages, which differ only in where the state lives, must agree with
each other bit for bit (stage 3's parameters are put back together from
every rank's shards). With a frozen ViT, stage 3 shards the frozen
parameters too and gathers them per layer like the trained ones.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from internvl_opt.tools import ROOT, run_tool

MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="no mpirun (OpenMPI)")

CONFIG = ROOT / "models/tiny/tiny-vit6b-llama3.json"
FLAGS = ["--max_dynamic_patch", "1", "--max_seq_length", "16"]
LR = 5e-5  # --tg-autodiff's default
BUCKET = "5000"  # elements: several buckets in the tiny model


def compile_step(tmp_path, name, samples, *options, freeze_vit=False):
    forward = tmp_path / f"{name}.mlir"
    freeze = ["--freeze_backbone", "True"] if freeze_vit else []
    run_tool("internvl-import", CONFIG, *FLAGS, *freeze,
             "--per_device_train_batch_size", str(samples), "-o", forward)
    out = tmp_path / name
    run_tool("internvl-compile", forward, "--target=cpu", *options, "-o", out)
    return out


def run(step, dump, ranks=1):
    command = [str(step / "run-step"), "--dump", str(dump)]
    if ranks > 1:
        command = [MPIRUN, "--oversubscribe", "-np", str(ranks)] + command
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr


def parameters(step, dump, ranks=1):
    """The updated parameters (the step's results; frozen ones are not);
    from ZeRO-3's shards, put back together."""
    manifest = json.loads((step / "step.json").read_text())
    updated = [a for a in manifest["arguments"]
               if a["kind"] == "param" and (dump / f"{a['name']}.npy").exists()]
    params = {a["name"]: np.load(dump / f"{a['name']}.npy")
              for a in updated if "shard_of" not in a}
    shapes = {p["name"]: p["shape"] for p in manifest.get("zero_params", [])}
    for a in updated:
        if "shard_of" not in a:
            continue
        flat = np.concatenate([
            np.load((dump if r == 0 else dump / f"rank{r}") / f"{a['name']}.npy")
            for r in range(ranks)])
        offset = 0
        for name in a["shard_of"]:
            size = int(np.prod(shapes[name]))
            params[name] = flat[offset:offset + size].reshape(shapes[name])
            offset += size
    return params


@pytest.mark.parametrize("ranks", [2, 4])
def test_data_parallel_matches_one_process(tmp_path, ranks):
    single = compile_step(tmp_path, "single", ranks)
    run(single, tmp_path / "single.out")
    expected = parameters(single, tmp_path / "single.out")

    by_stage = {}
    for stage in (0, 1, 2, 3):
        step = compile_step(tmp_path, f"zero{stage}", 1, f"--world-size={ranks}",
                            f"--zero-stage={stage}",
                            f"--reduce-bucket-size={BUCKET}")
        run(step, tmp_path / f"zero{stage}.out", ranks)
        by_stage[stage] = parameters(step, tmp_path / f"zero{stage}.out", ranks)

    for stage in (1, 2, 3):
        for name, value in by_stage[0].items():
            assert np.array_equal(by_stage[stage][name], value), \
                f"ZeRO stage {stage} differs from stage 0 in {name}"

    relative, worst, differing, total, used = compare_to_one_process(
        by_stage[0], expected)
    # Shown with pytest -s; docs/benchmarks.md and docs/data-parallel.md
    # quote it.
    print(f"\n{ranks} ranks vs one process: relative L2 {relative:.3e}, "
          f"largest difference {worst:.3e} (lr {LR}); {differing} of {total} "
          f"elements differ, the worst by {used:.2f} of the allowance; "
          f"stages 0-3 bit-identical")


def compare_to_one_process(got, expected):
    """Asserts the documented tolerance; returns relative L2, the largest
    element difference, how many elements differ of how many, and the
    largest share of the per-element allowance used."""
    assert set(got) == set(expected)
    num = den = worst = used = 0.0
    differing = total = 0
    for name, want in expected.items():
        a, b = got[name].astype(np.float64), want.astype(np.float64)
        ulp = np.exp2(np.floor(np.log2(np.maximum(np.abs(b), 1e-30))) - 7)
        allowance = 2 * LR + ulp
        excess = np.abs(a - b) - allowance
        assert excess.max() <= 0, \
            f"{name}: {np.abs(a - b).max():.3e} off, beyond one AdamW step"
        num += np.square(a - b).sum()
        den += np.square(b).sum()
        worst = max(worst, float(np.abs(a - b).max()))
        used = max(used, float((np.abs(a - b) / allowance).max()))
        differing += int(np.count_nonzero(a != b))
        total += a.size
    relative = np.sqrt(num / den)
    assert relative <= 1e-4
    return relative, worst, differing, total, used


def test_zero3_shards_the_frozen_vit(tmp_path):
    ranks = 2
    single = compile_step(tmp_path, "single", ranks, freeze_vit=True)
    run(single, tmp_path / "single.out")
    expected = parameters(single, tmp_path / "single.out")
    assert not any(name.startswith("vision_model.") for name in expected)

    by_stage = {}
    for stage in (0, 3):
        step = compile_step(tmp_path, f"zero{stage}", 1, f"--world-size={ranks}",
                            f"--zero-stage={stage}", freeze_vit=True)
        run(step, tmp_path / f"zero{stage}.out", ranks)
        by_stage[stage] = parameters(step, tmp_path / f"zero{stage}.out", ranks)
    manifest = json.loads((tmp_path / "zero3" / "step.json").read_text())
    frozen_shards = [a for a in manifest["arguments"] if "shard_of" in a and
                     all(n.startswith("vision_model.") for n in a["shard_of"])]
    assert frozen_shards, "stage 3 left the frozen ViT replicated"
    assert not any(a["name"].startswith("vision_model.")
                   for a in manifest["arguments"])

    for name, value in by_stage[0].items():
        assert np.array_equal(by_stage[3][name], value), \
            f"ZeRO stage 3 (frozen ViT sharded) differs from stage 0 in {name}"
    relative, worst, *_ = compare_to_one_process(by_stage[0], expected)
    print(f"\nfrozen ViT, {ranks} ranks vs one process: relative L2 "
          f"{relative:.3e}, largest difference {worst:.3e}; stages 0 and 3 "
          f"bit-identical")


def test_world_size_one_is_the_plain_step(tmp_path):
    """At world size 1 every stage's collectives are identities: the updated
    parameters equal the plain step's bit for bit."""
    plain = compile_step(tmp_path, "plain", 1)
    run(plain, tmp_path / "plain.out")
    expected = parameters(plain, tmp_path / "plain.out")
    for stage in (0, 1, 2, 3):
        step = compile_step(tmp_path, f"one{stage}", 1, "--world-size=1",
                            f"--zero-stage={stage}",
                            f"--reduce-bucket-size={BUCKET}")
        run(step, tmp_path / f"one{stage}.out")
        got = parameters(step, tmp_path / f"one{stage}.out")
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert np.array_equal(got[name], value), \
                f"ZeRO stage {stage} on one rank differs in {name}"


def test_rank_count_must_match_the_step(tmp_path):
    step = compile_step(tmp_path, "two", 1, "--world-size=2")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run([MPIRUN, "--oversubscribe", "-np", "3",
                             str(step / "run-step")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "compiled for 2 rank(s) but mpirun (Open MPI) started 3" in result.stderr
    alone = subprocess.run([str(step / "run-step")], capture_output=True,
                           text=True, timeout=60)
    assert alone.returncode != 0
    assert "compiled for 2 rank(s) but no launcher started 1" in alone.stderr
