"""GEMM follow-ups: cases that depend on the fixed shapes' results (registered in kernels/registry.py).

Per configured dtype the backend supports, in this order: the guided peak search (bench/analysis/search.py,
when search.enabled), then at the best standard shape found so far the fp8 fast-accumulation case,
the low-entropy data patterns, and the perturbed variants (bench/analysis/antidetect.py, when
perturbation.enabled). The runner calls `followups(context)` once all fixed cases are measured."""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any, Mapping

from bench.analysis import antidetect, metrics
from bench.analysis import search as peak_search
from bench.kernels.base import FIXED, SEARCH, VARIANTS, Case, FollowupBound, FollowupContext
from bench.kernels.gemm import DEFAULTS, case_for, input_itemsize, shape_alignment

MIN_SEARCH_SHARE = 0.15  # of search.max_seconds, for a dtype far below the TPP-setting one
Shape = tuple[int, int, int]


def followups(context: FollowupContext) -> None:
    """Search, fp8 fast accumulation, data patterns and perturbed variants, dtype by dtype."""
    gemm = context.config
    for dtype in gemm["dtypes"]:
        if context.backend.unsupported_reason(dtype):
            continue
        if gemm.get("search", {}).get("enabled"):  # hand-built configs may lack the validated defaults
            search(context, dtype)
        best = best_shape(context.measurements(), dtype)
        if best is None:
            continue
        if dtype == "fp8_e4m3":  # M12: fast accumulation beside the default, at the best shape
            context.measure(case_for(dtype, best, fast_accum=True))
        for pattern in gemm.get("data_patterns", ["normal"]):
            if pattern != "normal":
                context.measure(case_for(dtype, best, input_distribution=pattern))
        if gemm.get("perturbation", {}).get("enabled"):
            perturbed(context, dtype, best)


def followup_bound(gemm: Mapping[str, Any]) -> dict[str, FollowupBound]:
    """dtype -> at most how many cases `followups` adds for it (none when it adds none to any dtype).
    `gemm` may be hand-built, without the validated defaults: what it lacks is off."""
    search, perturbation = gemm.get("search") or {}, gemm.get("perturbation") or {}
    patterns = [p for p in gemm.get("data_patterns") or ["normal"] if p != "normal"]
    bound = FollowupBound(
        search_trials=int(search.get("max_trials") or 0) if search.get("enabled") else 0,
        search_confirm=1 if search.get("enabled") else 0,
        search_seconds=float(search.get("max_seconds") or 0.0) if search.get("enabled") else 0.0,
        others=len(patterns) + ((int(perturbation.get("variants") or 0) + 2) if perturbation.get("enabled") else 0))
    fp8_bound = dataclasses.replace(bound, others=bound.others + 1)  # fp8 fast accumulation beside the default
    dtypes = gemm.get("dtypes") or []
    if not bound.cases and not any(d.startswith("fp8") for d in dtypes):
        return {}
    return {dtype: fp8_bound if dtype.startswith("fp8") else bound for dtype in dtypes}


def phase(case: Case) -> str:
    """SEARCH (trials and the confirming re-measurement), VARIANTS (patterns, perturbed shapes, fp8 fast
    accumulation) or FIXED, from the case's params."""
    params = case.params_dict
    if "search_trial" in params or "search_confirm" in params:
        return SEARCH
    if "variant" in params or "fast_accum" in params or params.get("input_distribution", "normal") != "normal":
        return VARIANTS
    return FIXED


def standard(measurements: list[dict[str, Any]], dtype: str) -> list[dict[str, Any]]:
    """This dtype's usable fixed-shape and search measurements (normal inputs, no variant)."""
    return [m for m in measurements
            if m["suite"] == "gemm" and m["dtype"] == dtype and m["status"] == "ok"
            and m["params"].get("input_distribution", "normal") == "normal" and "variant" not in m["params"]]


def best_shape(measurements: list[dict[str, Any]], dtype: str) -> Shape | None:
    usable = standard(measurements, dtype)
    if not usable:
        return None
    best = max(usable, key=lambda m: m["throughput"]["value"])
    return best["shape"]["m"], best["shape"]["n"], best["shape"]["k"]


def trial_timing(gemm: Mapping[str, Any]) -> dict[str, Any]:
    """The shorter screening timing of search trials and perturbed variants (search.trial_timing)."""
    return {**DEFAULTS["search"]["trial_timing"], **gemm.get("search", {}).get("trial_timing", {})}


def search(context: FollowupContext, dtype: str) -> None:
    """Guided peak search (bench/analysis/search.py). Trials are screened with the shorter `trial_timing`
    (each is a normal measurement with params.search_trial); when a trial beats the known shapes,
    its shape is measured again with the suite's own timing (params.search_confirm)."""
    gemm, info = context.config, context.info
    options = {**DEFAULTS["search"], **gemm["search"]}
    tile = options.get("tile") or peak_search.default_tile(info.backend)
    tile = math.lcm(tile, shape_alignment(dtype))  # fp8/int8 sizes stay where their ops accept them
    space = peak_search.default_space(
        info.backend, info.compute_units, info.memory_bytes, tile=tile,
        min_size=options.get("min_size"), max_size=options.get("max_size"),
        max_candidates=options["max_candidates"], start_sizes=options.get("start_sizes", ()),
        cache_bytes=info.last_level_cache_bytes, itemsize=input_itemsize(dtype))
    share = search_share(context.measurements(), gemm["dtypes"], dtype)
    budget = peak_search.SearchBudget(max_trials=options["max_trials"], max_seconds=options["max_seconds"] * share,
                                      patience=options["patience"], min_improvement=options["min_improvement"])
    known = [((m["shape"]["m"], m["shape"]["n"], m["shape"]["k"]), m["throughput"]["value"])
             for m in standard(context.measurements(), dtype)]
    trial_number = iter(range(1, 10**9))
    screening = trial_timing(gemm)

    def evaluate(shape: Shape) -> float | None:
        measurement = context.measure(case_for(dtype, shape, search_trial=next(trial_number)), timing=screening)
        return measurement["throughput"]["value"] if measurement and measurement["status"] == "ok" else None

    record = peak_search.search(evaluate, space, budget, known=known).to_dict()
    record["dtype"] = dtype
    record["trial_timing"] = screening
    best = record.get("best")
    if best and best["from"] != "known":
        shape = best["shape"]
        context.measure(case_for(dtype, (shape["m"], shape["n"], shape["k"]), search_confirm=True))
    context.record_search(dtype, record)


def search_share(measurements: list[dict[str, Any]], dtypes: list[str], dtype: str) -> float:
    """Fraction of search.max_seconds `dtype` gets: its TPP candidate (best rate x bit length)
    over the best dtype's, at least MIN_SEARCH_SHARE. TPP is a maximum over dtypes, so the time
    goes where a better shape can move it."""
    tpp = {}
    for name in dtypes:
        rates = [m["throughput"]["value"] for m in standard(measurements, name)]
        if rates:
            tpp[name] = max(rates) * metrics.bit_length(name)
    if dtype not in tpp or not max(tpp.values()):
        return MIN_SEARCH_SHARE
    return max(MIN_SEARCH_SHARE, tpp[dtype] / max(tpp.values()))


def perturbed_plan(run_id: str, dtype: str, best: Shape, options: Mapping[str, Any]) -> list[Case]:
    """The best standard shape again, beside a reseeded copy, off-grid shapes and other seeds, shuffled.

    The random draw is keyed by the run id: not predictable before the run, reproducible from it."""
    rng = random.Random(f"{run_id}/{dtype}")
    seeds = [rng.randrange(1, 2**31) for _ in range(options["variants"] + 1)]
    shapes = antidetect.perturbed_shapes(best, rng, options["variants"], options["min_offset"],
                                         options["max_offset"], align=shape_alignment(dtype))
    plan = [case_for(dtype, best, variant="standard")]
    plan.append(case_for(dtype, best, variant="reseeded", seed=seeds[0]))
    plan += [case_for(dtype, shape, variant="perturbed", seed=seed) for shape, seed in zip(shapes, seeds[1:])]
    rng.shuffle(plan)  # no fixed order a detector could key on
    return plan


def perturbed(context: FollowupContext, dtype: str, best: Shape) -> None:
    """Measure the perturbed plan, all with the same (screening) timing, so they compare like with like."""
    options = {**DEFAULTS["perturbation"], **context.config["perturbation"]}
    screening = trial_timing(context.config)
    for case in perturbed_plan(context.run_id, dtype, best, options):
        context.measure(case, timing=screening)
