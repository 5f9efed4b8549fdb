"""--tg-remat auto against the exact optimum of bench/checkmate.py's Checkmate-
style ILP (HiGHS) over the whole joint step of one tiny config.

The ILP shares nothing with the compiler's solver but the cost model. Its
memory model is checked against the planner (the compiler's own choices and
random ones, applied and planned), so that its optimum is a real bound: the
compiler's choice is feasible at its own live peak, the optimum can only be
lower, and the optimum's choice, applied as the compiler's rewrite would and
planned by --tg-plan-memory, fits the same budget."""

import importlib.util
import math
import random

import pytest

pytest.importorskip("highspy")

from internvl_opt.tools import ROOT, tool  # noqa: E402

CONFIG = "tiny-vit300m-qwen2"
SEQ = 24


def load_checkmate():
    spec = importlib.util.spec_from_file_location("checkmate", ROOT / "bench" / "checkmate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cm = load_checkmate()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    tool("internvl-opt")
    return tmp_path_factory.mktemp("checkmate")


@pytest.fixture(scope="module")
def sweep(work):
    """The compiler's answer and the ILP's optimum at three budgets: the
    minimum feasible peak, 6/7 of the way to the no-recompute peak, and
    that peak."""
    step_path = cm.make_step(CONFIG, work, SEQ)
    low = cm.minimum_budget(step_path)
    high = cm.off_plan(step_path, work)["peak_bytes"]
    budgets = {"floor": low, "high": low + (high - low) * 6 // 7, "top": high}
    # No time limit in practice (each solve takes seconds), so that nothing
    # depends on the machine's speed.
    rows = cm.compare(CONFIG, work, seq=SEQ, budgets=list(budgets.values()),
                      time_limit=1e6, bracket=False)
    return dict(zip(budgets, rows))


def test_memory_model_is_the_planners(sweep):
    for name, row in sweep.items():
        assert "error" not in row, (name, row.get("error"))
        # The compiler's choice under the ILP's memory model, the same
        # rewritten step replayed here, and the planner's live lower bound.
        assert row["live_c"] == row["live_lower_bound"] == row["simulated_live"], name
        assert math.isclose(row["compiler_seconds_here"], row["compiler_seconds"],
                            rel_tol=1e-9), name


def test_ilp_is_optimal_and_never_above_the_compiler(sweep):
    for name, row in sweep.items():
        ilp = row["ilp"]
        assert ilp.status == "Optimal", name
        assert ilp.seconds <= row["compiler_seconds"] * (1 + 1e-9), name
        assert ilp.bound_seconds == ilp.seconds, name


def test_ilp_choice_fits_the_budget_when_planned(sweep):
    for name, row in sweep.items():
        assert row["ilp_peak"] <= row["budget"], name
        assert math.isclose(row["ilp_planned_seconds"], row["ilp"].seconds,
                            rel_tol=1e-9), name


@pytest.mark.parametrize("name", [
    pytest.param("floor", marks=pytest.mark.xfail(strict=True, reason=(
        "at the minimum feasible peak the knapsack's capacity (budget less the "
        "peak that keeps nothing) is 0, so auto keeps nothing; the ILP keeps "
        "values that are not live at that peak's step (2.7% less step time, "
        "and its choice fits the same budget when planned)"))),
    "high", "top"])
def test_compiler_within_2_percent_of_the_optimum(sweep, name):
    row = sweep[name]
    assert row["compiler_seconds"] <= 1.02 * row["ilp"].seconds, (
        name, row["compiler_seconds"], row["ilp"].seconds)


@pytest.mark.parametrize("placement", ["layer", "stage"])
def test_memory_model_on_random_choices(work, placement):
    """Random keep/recompute choices: the ILP's least live peak for each
    equals that of the step it describes, applied and planned."""
    step = cm.load_step(cm.make_step(CONFIG, work, SEQ), work)
    live = cm.liveness(step)
    problem = cm.build_problem(step, live, placement)
    rng = random.Random(7)
    keys = sorted(problem.recompute)
    checked = 0
    for trial in range(12):
        if placement == "layer":
            stages = {}
            for t, j in keys:
                stages.setdefault(problem.layer[j], {}).setdefault(t, []).append(j)
            choice = set()
            for by_stage in stages.values():
                t = rng.choice(sorted(by_stage))
                choice |= {(t, j) for j in by_stage[t] if rng.random() < 0.5}
        else:
            choice = set()
            for j in sorted({j for _, j in keys}):
                if rng.random() < 0.4:
                    choice.add(rng.choice([k for k in keys if k[1] == j]))
        evaluated = cm.solve(problem, fixed={k: 1 for k in choice})
        if evaluated.status != "Optimal":
            continue        # a choice the ILP's space excludes (placement order)
        text = cm.apply_choice(step, choice)
        replayed = max(cm.liveness(cm.parse_step(text)).live)
        planned = cm.plan_of(text, work, f"random{trial}")["live_lower_bound_bytes"]
        assert evaluated.budget == replayed == planned, (trial, sorted(choice))
        checked += 1
    assert checked >= 6
