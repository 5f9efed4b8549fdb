#!/usr/bin/env python3
"""--tg-remat benchmarks (results in docs/benchmarks.md).

    bench/remat.py published [--models A,B] [--budget h100-80gb]
    bench/remat.py sweep --model InternVL2-8B [--points 12]
    bench/remat.py ilp [--points 8]
    bench/remat.py floors [--models A,B]

published: every released model at InternVL's published full fine-tune
  settings: peak and recompute overhead with everything kept (off), with
  InternVL's checkpointing (vision=force lm=force; also re-running whole
  layers, prune=false, as torch.utils.checkpoint does) and with auto under
  the budget.
sweep: budgets from the smallest feasible peak (every lever) to the
  no-recompute peak: the estimated step time (recompute and the loss chunk
  included) must never grow with the budget; also the solve time of
  --tg-remat (-mlir-timing) for the model.
floors: every model at its published settings: the minimum feasible peak
  per GPU with each set of levers added in turn (recompute, chunk-loss,
  segments, offload), the host bytes at the floor with every lever, and
  where the floor's peak step is.
ilp: tiny models, a sweep of budgets: the knapsack's choice against the exact
  optimum of the same keep/recompute problem as a 0-1 ILP solved by HiGHS.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from internvl_opt.settings import import_flags, published_settings  # noqa: E402

BIN = ROOT / "build" / "bin"
GIB = 1 << 30


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True,
                          text=True, **kw).stdout


def train_step(tmp, config, flags):
    forward = Path(tmp) / "forward.mlir"
    run(BIN / "internvl-import", config, *flags, "-o", forward)
    step = Path(tmp) / "step.mlir"
    run(BIN / "internvl-opt", forward, "--tg-autodiff", "-o", step)
    return step


def plan(tmp, step, remat, extra=()):
    """Peak, recompute FLOPs and seconds (per the tg.remat summary) of one
    policy; None when --tg-remat refuses the budget."""
    out = Path(tmp) / "plan.json"
    module = Path(tmp) / "planned.mlir"
    args = [BIN / "internvl-opt", step]
    if remat:
        args.append(f"--tg-remat={remat}")
    args += ["--tg-plan-memory", f"--tg-export-memory-plan={out}", "-o", module,
             *extra]
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        floor = re.search(r"minimum feasible peak (\d+) bytes", result.stderr)
        if floor:
            return {"infeasible": int(floor.group(1))}
        raise RuntimeError(result.stderr)
    p = json.loads(out.read_text())
    # The tg.remat summary sits on @train_step's (long) signature line.
    text = module.read_text()
    summary = text[text.find("tg.remat = {"):]
    summary = summary[:summary.find("}}") + 2]
    seconds = sum(float(x) for x in
                  re.findall(r"recompute_seconds = ([0-9.eE+-]+)", summary))
    return {"peak": p["peak_bytes"], "flops": p["recompute_flops"],
            "total": p["total_flops"], "seconds": seconds, "timing": result.stderr}


def published(args):
    settings = published_settings()
    models = args.models.split(",") if args.models else list(settings)
    print(f"Budget for auto: {args.budget}. Overheads: recompute FLOPs as % of the "
          "step's FLOPs, and estimated recompute time on the H100 roofline.\n")
    print("| model | off: peak | default: peak | default: recompute | "
          "whole layers re-run: FLOPs pruned / whole, peak | auto: peak | "
          "auto: recompute | auto / default time | auto at the default's peak: "
          "recompute |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            step = train_step(tmp, ROOT / "models" / f"{model}.json",
                              import_flags(settings[model]))
            off = plan(tmp, step, "vision=off lm=off")
            default = plan(tmp, step, "vision=force lm=force")
            full = plan(tmp, step, "vision=force lm=force prune=false")
            auto = plan(tmp, step, f"vision=auto lm=auto budget={args.budget}")
            same = plan(tmp, step, f"vision=auto lm=auto budget={default['peak']}")

        def cost(p):
            return f"{100 * p['flops'] / p['total']:.1f}% / {p['seconds'] * 1e3:.0f} ms"
        ratio = default["flops"] / full["flops"] if full["flops"] else 1.0
        full_note = f"{ratio:.3f}, {full['peak'] / GIB:.2f} GiB"
        if "infeasible" in auto:
            auto_peak = f"infeasible (min {auto['infeasible'] / GIB:.1f} GiB)"
            auto_cost, vs = "-", "-"
        else:
            auto_peak = f"{auto['peak'] / GIB:.1f} GiB"
            auto_cost = cost(auto)
            vs = (f"{auto['seconds'] / default['seconds']:.2f}"
                  if default["seconds"] else "-")
        print(f"| {model} | {off['peak'] / GIB:.1f} GiB | {default['peak'] / GIB:.2f} GiB | "
              f"{cost(default)} | {full_note} | {auto_peak} | {auto_cost} | {vs} | "
              f"{cost(same)} |", flush=True)


def sweep(args):
    settings = published_settings()
    with tempfile.TemporaryDirectory() as tmp:
        step = train_step(tmp, ROOT / "models" / f"{args.model}.json",
                          import_flags(settings[args.model]))
        low = floor(step, "recompute,segments,offload,chunk-loss")
        high = plan(tmp, step, "vision=off lm=off")["peak"]
        print(f"{args.model}: budgets from {low / GIB:.2f} GiB (the minimum with "
              f"every lever) to {high / GIB:.2f} GiB (nothing recomputed)\n")
        print("| budget (GiB) | peak (GiB) | recompute time (ms) | recompute FLOPs | "
              "loss chunk | offloaded (GiB) | est. step (ms) | --tg-remat time (s) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        previous = float("inf")
        monotone = True
        for k in range(args.points):
            budget = low + (high - low) * k // (args.points - 1)
            p = plan(tmp, step, f"vision=auto lm=auto budget={budget}",
                     extra=["-mlir-timing"])
            exported = json.loads((Path(tmp) / "plan.json").read_text())
            chunk = exported.get("loss_chunk", {})
            seconds = exported["step_seconds"]
            solve = re.search(r"([0-9.]+) \([ 0-9.]+%\)\s+TGRemat", p["timing"])
            monotone &= seconds <= previous + 1e-12
            previous = seconds
            print(f"| {budget / GIB:.2f} | {p['peak'] / GIB:.2f} | "
                  f"{p['seconds'] * 1e3:.2f} | {p['flops']:.3e} | "
                  f"{chunk.get('chunk_tokens', '-')} | "
                  f"{exported.get('host_bytes', 0) / GIB:.2f} | {seconds * 1e3:.1f} | "
                  f"{solve.group(1) if solve else '?'} |", flush=True)
        print(f"\nestimated step time never grows with the budget: {monotone}")


def ilp_optimum(problem, capacity):
    """min total recompute seconds s.t. kept bytes <= capacity, exactly.
    The objective is in nanoseconds so HiGHS's absolute gap (1e-6) does not
    stop the search early; both gaps are set to zero."""
    import highspy
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    inf = highspy.kHighsInf
    cap_row = []
    for layer in problem["layers"]:
        ops = layer["ops"]
        r = [h.addBinary(obj=op["seconds"] * 1e9) for op in ops]
        x = {k: h.addBinary(obj=0.0) for k, op in enumerate(ops) if op["saved_bytes"] > 0}
        for k, var in x.items():
            h.addConstr(var + r[k] >= 1)  # a unit is kept or recomputed
            cap_row.append((var, ops[k]["saved_bytes"]))
        for k, op in enumerate(ops):
            for producer, via_saved in op["inputs"]:
                if via_saved and producer in x:
                    h.addConstr(r[k] - r[producer] - x[producer] <= 0)
                else:
                    h.addConstr(r[k] - r[producer] <= 0)
    h.addConstr(sum(var * b for var, b in cap_row) <= capacity)
    h.setMinimize()
    h.run()
    return h.getInfo().objective_function_value * 1e-9


def ilp(args):
    configs = ["tiny-vit300m-qwen2", "tiny-vit6b-internlm2", "tiny-vit300m-phi3"]
    flags = ["--max_dynamic_patch", "2", "--use_thumbnail", "--max_seq_length", "64",
             "--per_device_train_batch_size", "2", "--drop_path_rate", "0.1"]
    print("| model | ops | budget (bytes) | auto recompute (us) | ILP optimum (us) | gap |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for config in configs:
        with tempfile.TemporaryDirectory() as tmp:
            step = train_step(tmp, ROOT / "models" / "tiny" / f"{config}.json", flags)
            ops = run(BIN / "internvl-opt", step, "--tg-remat=vision=force lm=force",
                      "-o", "-").count(" = tg.")
            low = plan(tmp, step, "vision=force lm=force")["peak"]
            high = plan(tmp, step, "vision=off lm=off")["peak"]
            problem_file = Path(tmp) / "problem.json"
            for k in range(args.points):
                budget = low + (high - low) * k // (args.points - 1)
                # The layer problem this ILP models: keep or recompute (and
                # the loss's chunk, whose bytes come off the capacity);
                # bench/checkmate.py checks every lever on the whole graph.
                plan(tmp, step, f"vision=auto lm=auto budget={budget} "
                                f"levers=recompute,chunk-loss "
                                f"export-problem={problem_file}")
                problem = json.loads(problem_file.read_text())
                optimum = ilp_optimum(problem, problem["capacity_bytes"])
                chosen = problem["chosen_seconds"]
                gap = (chosen - optimum) / optimum if optimum > 0 else chosen
                gap = 0.0 if abs(gap) < 1e-9 else gap
                worst = max(worst, gap)
                print(f"| {config} | {ops} | {budget} | {chosen * 1e6:.4f} | "
                      f"{optimum * 1e6:.4f} | {100 * gap:.2f}% |", flush=True)
    print(f"\nworst gap to the optimum: {100 * worst:.2f}%")


def floor(step, levers):
    """The minimum feasible peak of `step` with `levers`, from --tg-remat's
    refusal of a 1 MiB budget."""
    result = subprocess.run(
        [str(BIN / "internvl-opt"), str(step),
         f"--tg-remat=vision=auto lm=auto budget=1MiB levers={levers}",
         "-o", "/dev/null"], capture_output=True, text=True)
    found = re.search(r"minimum feasible peak (\d+) bytes", result.stderr)
    if not found:
        raise RuntimeError(result.stderr)
    return int(found.group(1))


def floors(args):
    settings = published_settings()
    models = args.models.split(",") if args.models else list(settings)
    lever_sets = ["recompute", "recompute,chunk-loss",
                  "recompute,chunk-loss,segments",
                  "recompute,chunk-loss,segments,offload"]
    print("| model | recompute | + chunk-loss | + segments | + offload "
          "(every lever) | saved by the levers | fits 80 GB | offloaded at "
          "the floor | peak step at the floor |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    budget = 81559 * (1 << 20) - (2 << 30)  # h100-80gb less the 2 GiB reserve
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            step = train_step(tmp, ROOT / "models" / f"{model}.json",
                              import_flags(settings[model]))
            peaks = [floor(step, levers) for levers in lever_sets]
            out = Path(tmp) / "plan.json"
            report = run(BIN / "internvl-opt", step,
                         f"--tg-remat=vision=auto lm=auto budget={peaks[-1]}",
                         "--tg-plan-memory", "--tg-print-memory-plan",
                         f"--tg-export-memory-plan={out}", "-o", "/dev/null")
            host = json.loads(out.read_text()).get("host_bytes", 0)
            at = re.search(r"^peak step \d+ of \d+: (.*?),", report, re.M)
        cells = " | ".join(f"{p / GIB:.2f} GiB" for p in peaks)
        print(f"| {model} | {cells} | {(peaks[0] - peaks[-1]) / GIB:.2f} GiB | "
              f"{'yes' if peaks[-1] <= budget else 'no'} | {host / GIB:.2f} GiB | "
              f"{at.group(1) if at else '-'} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("published")
    p.add_argument("--models", default="")
    p.add_argument("--budget", default="h100-80gb")
    s = sub.add_parser("sweep")
    s.add_argument("--model", default="InternVL2-8B")
    s.add_argument("--points", type=int, default=12)
    i = sub.add_parser("ilp")
    i.add_argument("--points", type=int, default=8)
    f = sub.add_parser("floors")
    f.add_argument("--models", default="")
    args = parser.parse_args()
    {"published": published, "sweep": sweep, "ilp": ilp,
     "floors": floors}[args.command](args)


if __name__ == "__main__":
    main()
