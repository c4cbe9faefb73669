"""Threshold profiles (configs/profiles/*.yaml): load, validate, and classify values against them.

A profile is data: classes (regions of the metric space, e.g. 3A090.a.1) built from conditions
`{metric, op, value, unit}` or `{flag, equals}` joined by `all` / `any`, plus exemptions (Note 2).
`conforms_when: outside` means the item conforms when no class applies (controlled regions);
`inside` means it conforms when some class applies (permitted regions, e.g. the 2026 limits).

Evaluation is three-valued (Kleene): a condition on a value that is not known is None, and
None propagates unless the other operands decide the result.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.resources
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, cast

from bench.analysis import metrics
from bench.errors import ConfigError, UsageError
from bench.yamlfile import read_yaml

METRICS: dict[str, str] = {
    "tpp": "TPP",
    "performance_density": "TPP/mm2",
    "bidirectional_io_gbps": "GB/s",
    "dram_bandwidth_gbps": "GB/s",
    "hbm_bandwidth_density": "GB/s/mm2",
}
FLAGS = ("datacenter",)
OPS = (">=", ">", "<=", "<")
STRICT_OPS = (">", "<")  # the limit itself is outside the region
EDGES = ("strict", "inclusive")
OP_WORDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}
ITEMS = ("accelerator", "cpu", "hbm_stack")
PROFILE_ENV = "ACCELBENCH_PROFILES"  # extra folders of user profiles, os.pathsep-separated


@dataclasses.dataclass(frozen=True)
class Condition:
    """A leaf: `metric op value` (unit checked against METRICS) or `flag == equals`."""

    metric: str | None = None
    op: str | None = None
    value: float | None = None
    unit: str | None = None
    flag: str | None = None
    equals: bool | None = None

    @property
    def edge(self) -> str | None:
        """"strict" when the limit itself is outside the region (> or <), else "inclusive"."""
        if self.op is None:
            return None
        return "strict" if self.op in STRICT_OPS else "inclusive"

    def evaluate(self, values: Mapping[str, Any]) -> bool | None:
        if self.flag:
            actual = values.get(self.flag)
            return None if actual is None else actual == self.equals
        # Not a flag, so a metric condition: _parse_condition set metric, op and value.
        actual = values.get(cast(str, self.metric))
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return None
        return metrics.compare(float(actual), cast(str, self.op), cast(float, self.value))

    def describe(self) -> str:
        if self.flag:
            return f"{self.flag} is {str(self.equals).lower()}"
        return f"{self.metric} {self.op} {self.value:,.10g} {self.unit} ({self.edge})"

    def explain(self) -> str:
        """The criterion in words, saying what happens exactly at the limit."""
        at_limit = "exactly the limit does not meet it" if self.edge == "strict" else "exactly the limit meets it"
        if self.flag:
            return self.describe()
        return f"{self.metric} {OP_WORDS[cast(str, self.op)]} {self.value:,.10g} {self.unit} ({self.edge}: {at_limit})"


@dataclasses.dataclass(frozen=True)
class Group:
    """`all` or `any` of conditions and nested groups."""

    join: str  # "all" | "any"
    items: tuple[Any, ...]  # Condition | Group

    def evaluate(self, values: Mapping[str, Any]) -> bool | None:
        results = [item.evaluate(values) for item in self.items]
        if self.join == "all":
            return False if False in results else (None if None in results else True)
        return True if True in results else (None if None in results else False)

    def leaves(self) -> list[Condition]:
        out: list[Condition] = []
        for item in self.items:
            out.extend(item.leaves() if isinstance(item, Group) else [item])
        return out


@dataclasses.dataclass(frozen=True)
class Rule:
    """One class (e.g. 3A090.a.1) or exemption (e.g. Note 2)."""

    id: str
    description: str
    when: Group
    item: str = "accelerator"
    unless: tuple[str, ...] = ()  # ids of classes that take precedence ("not specified by 3A090.a")
    source: str = ""  # the paragraph of the rule text this class encodes

    def evaluate(self, values: Mapping[str, Any], item: str = "accelerator") -> bool | None:
        if item != self.item:
            return False
        return self.when.evaluate(values)


@dataclasses.dataclass(frozen=True)
class Profile:
    id: str
    title: str
    citation: Mapping[str, str]
    effective: str
    conforms_when: str
    labels: Mapping[str, str]
    classes: tuple[Rule, ...]
    exemptions: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = ()
    destinations: str = ""
    path: str = ""

    def conforms(self, values: Mapping[str, Any], item: str = "accelerator") -> bool | None:
        """Whether values conform (True), do not (False), or cannot be decided (None)."""
        return self.classify(values, item).conforms

    def classify(self, values: Mapping[str, Any], item: str = "accelerator") -> "Classification":
        """The controlling classification. `criteria_met` lists every class whose conditions hold;
        `matched` only those that apply after precedence (`unless`) and exemptions, so an item
        meeting 3A090.a is reported as .a only and a Note-2-exempt item matches nothing."""
        raw = {r.id: r.evaluate(values, item) for r in self.classes}
        states = {r.id: _and(raw[r.id], _not(_or([raw.get(u) for u in r.unless]))) for r in self.classes}
        exempt = [r.id for r in self.exemptions if r.evaluate(values, item) is True]
        exempt_unknown = [r.id for r in self.exemptions if r.evaluate(values, item) is None]
        criteria_met = [cid for cid, state in raw.items() if state is True]
        matched = [cid for cid, state in states.items() if state is True]
        undetermined = [cid for cid, state in states.items() if state is None]
        if self.conforms_when == "outside":  # conformity from the raw criteria: .a and .b are both controlled
            if exempt:
                conforms: bool | None = True
                matched, undetermined = [], []
            elif criteria_met:
                conforms = None if exempt_unknown else False
            else:
                conforms = None if None in raw.values() else True
        else:
            conforms = True if matched else (None if undetermined else False)
        label = {True: self.labels.get("conforms", "conforms"), False: self.labels.get("does_not_conform", "does not conform"),
                 None: "undetermined (a value the profile needs is not known)"}[conforms]
        return Classification(self.id, conforms, matched, undetermined, exempt, label, criteria_met)

    def leaves(self) -> list[tuple[Rule, Condition]]:
        return [(rule, leaf) for rule in (*self.classes, *self.exemptions) for leaf in rule.when.leaves()]

    def thresholds(self, metric: str) -> list[float]:
        return sorted({cast(float, leaf.value) for _, leaf in self.leaves() if leaf.metric == metric})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Classification:
    profile: str
    conforms: bool | None
    matched: list[str]
    undetermined: list[str]
    exempted_by: list[str]
    label: str
    criteria_met: list[str] = dataclasses.field(default_factory=list)  # before precedence and exemptions

    def short(self) -> str:
        if self.exempted_by:
            return f"outside ({', '.join(self.exempted_by)})"
        if self.matched:
            return ", ".join(self.matched)
        if self.undetermined:
            return "? " + ", ".join(self.undetermined)
        return "none"


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _and(*values: bool | None) -> bool | None:
    return False if False in values else (None if None in values else True)


def _or(values: Iterable[bool | None]) -> bool | None:
    values = list(values)
    return True if True in values else (None if None in values else False)


# --- loading and validation -------------------------------------------------------------------

def _parse_condition(raw: Any, where: str) -> Condition | Group:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping (a condition or an all/any group)")
    if "all" in raw or "any" in raw:
        return _parse_group(raw, where)
    for key in ("metric", "op", "flag", "unit", "edge"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}.{key}: expected a string, got {_short_repr(raw[key])}")
    if "flag" in raw:
        if raw["flag"] not in FLAGS:
            raise ConfigError(f"{where}.flag: unknown flag {_short_repr(raw['flag'])}; known: {', '.join(FLAGS)}")
        if not isinstance(raw.get("equals"), bool) or set(raw) != {"flag", "equals"}:
            raise ConfigError(f"{where}: a flag condition is exactly {{flag, equals: true|false}}")
        return Condition(flag=raw["flag"], equals=raw["equals"])
    unknown = set(raw) - {"metric", "op", "value", "unit", "edge"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    metric = raw.get("metric")
    if metric not in METRICS:
        raise ConfigError(f"{where}.metric: unknown metric {_short_repr(metric)}; known: {', '.join(METRICS)}")
    if raw.get("op") not in OPS:
        raise ConfigError(f"{where}.op: unknown comparison {_short_repr(raw.get('op'))}; use one of {', '.join(OPS)}")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}.value: expected a number, got {_short_repr(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}.value: a limit must be a finite positive number, got {_short_repr(value)}")
    if raw.get("unit") != METRICS[metric]:
        raise ConfigError(f"{where}.unit: {metric} is in {_short_repr(METRICS[metric])}, got {_short_repr(raw.get('unit'))}")
    condition = Condition(metric=metric, op=raw["op"], value=float(value), unit=raw["unit"])
    edge = raw.get("edge")
    if edge is not None and edge not in EDGES:
        raise ConfigError(f"{where}.edge: {_short_repr(edge)} is not one of {', '.join(EDGES)}")
    if edge is not None and edge != condition.edge:
        raise ConfigError(f"{where}.edge: says {edge} but {_short_repr(raw['op'])} is {condition.edge}")
    return condition


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "…"


def _parse_group(raw: Mapping[str, Any], where: str) -> Group:
    joins = [key for key in ("all", "any") if key in raw]
    if len(joins) != 1:
        raise ConfigError(f"{where}: give exactly one of `all` or `any`")
    join = joins[0]
    items = raw[join]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}.{join}: expected a non-empty list of conditions")
    return Group(join, tuple(_parse_condition(item, f"{where}.{join}[{i}]") for i, item in enumerate(items)))


def _parse_rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping) or not raw.get("id") or not isinstance(raw["id"], str):
        raise ConfigError(f"{where}: expected a mapping with a string `id`")
    if len(raw["id"]) > 64:
        raise ConfigError(f"{where}.id: expected a short id (at most 64 characters), got {_short_repr(raw['id'])}")
    where = f"{where} ({raw['id']})"
    unknown = set(raw) - {"id", "description", "all", "any", "item", "unless", "source"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    item = raw.get("item", "accelerator")
    if not isinstance(item, str) or item not in ITEMS:
        raise ConfigError(f"{where}.item: {_short_repr(item)} is not one of {', '.join(ITEMS)}")
    unless = raw.get("unless") or []
    if not isinstance(unless, list) or not all(isinstance(u, str) for u in unless):
        raise ConfigError(f"{where}.unless: expected a list of class ids")
    when = _parse_group({k: raw[k] for k in ("all", "any") if k in raw}, where)
    return Rule(str(raw["id"]), str(raw.get("description", "")), when, item, tuple(unless), str(raw.get("source", "")))


PROFILE_KEYS = {"id", "title", "citation", "effective", "effective_note", "destinations", "conforms_when",
                "labels", "classes", "exemptions", "notes"}


def parse_profile(data: Any, path: str) -> Profile:
    """A loaded YAML document -> Profile; a malformed one is one ConfigError naming file and key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping")
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("id", "title", "citation", "effective", "conforms_when", "classes"):
        if data.get(key) in (None, "", []):
            raise ConfigError(f"{path}: missing required key {_short_repr(key)}")
    if not isinstance(data["conforms_when"], str) or data["conforms_when"] not in ("outside", "inside"):
        raise ConfigError(f"{path}: conforms_when: {_short_repr(data['conforms_when'])} is not 'outside' or 'inside'")
    citation = data["citation"]
    if not isinstance(citation, Mapping) or not citation.get("document"):
        raise ConfigError(f"{path}: citation.document: name the Federal Register document")
    if not all(isinstance(v, str) for v in citation.values()):
        raise ConfigError(f"{path}: citation: every entry must be a string")
    effective = data["effective"]
    if isinstance(effective, str):
        try:
            datetime.date.fromisoformat(effective)
        except ValueError:
            raise ConfigError(f"{path}: effective: {_short_repr(effective)} is not a YYYY-MM-DD date") from None
    elif not isinstance(effective, datetime.date):
        raise ConfigError(f"{path}: effective: expected a YYYY-MM-DD date")
    for key in ("classes", "exemptions"):
        if data.get(key) is not None and not isinstance(data[key], list):
            raise ConfigError(f"{path}: {key}: expected a list")
    labels = data.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(f"{path}: labels: expected a mapping of conforms / does_not_conform -> text")
    classes = tuple(_parse_rule(r, f"{path}: classes[{i}]") for i, r in enumerate(data["classes"]))
    ids = [c.id for c in classes]
    for rule in classes:
        for other in rule.unless:
            if other not in ids or other == rule.id:
                raise ConfigError(f"{path}: classes ({rule.id}).unless: {_short_repr(other)} is not another class of this profile")
    exemptions = tuple(_parse_rule(r, f"{path}: exemptions[{i}]") for i, r in enumerate(data.get("exemptions") or []))
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ConfigError(f"{path}: notes: expected a list of strings")
    for key in ("id", "title"):
        if not isinstance(data[key], str):
            raise ConfigError(f"{path}: {key}: expected a string, got {_short_repr(data[key])}")
    if len(data["id"]) > 64:
        raise ConfigError(f"{path}: id: expected a short id (at most 64 characters), got {_short_repr(data['id'])}")
    return Profile(id=str(data["id"]), title=str(data["title"]), citation=dict(citation), effective=str(effective),
                   conforms_when=data["conforms_when"], labels=dict(data.get("labels") or {}), classes=classes,
                   exemptions=exemptions, notes=tuple(map(str, notes)),
                   destinations=str(data.get("destinations", "")), path=path)


def profile_files() -> list[Any]:
    """Shipped profiles, then any in the folders named by $ACCELBENCH_PROFILES."""
    folders: list[Any] = [importlib.resources.files("bench.configs") / "profiles"]
    folders += [Path(p) for p in os.environ.get(PROFILE_ENV, "").split(os.pathsep) if p]
    files = []
    for folder in folders:
        if folder.is_dir():
            files += sorted((f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)
    return files


def list_profiles() -> list[Profile]:
    return [parse_profile(read_yaml(f), str(f)) for f in profile_files()]


def load_profile(name_or_path: str | Profile) -> Profile:
    """A profile by id (shipped or in $ACCELBENCH_PROFILES) or by file path."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not path.is_file():
            raise UsageError(f"profile file {name_or_path} does not exist")
        return parse_profile(read_yaml(path), str(path))
    for file in profile_files():
        if file.name.rsplit(".", 1)[0] == name_or_path:
            return parse_profile(read_yaml(file), str(file))
    known = ", ".join(f.name.rsplit(".", 1)[0] for f in profile_files())
    raise UsageError(f"no profile {_short_repr(name_or_path)}; known: {known} (or pass a file path)")


def classify_spec(spec: Any, profile: Profile) -> Classification:
    """How a declared spec (bench.rules.specs.DeviceSpec) classifies under a profile."""
    item = "hbm_stack" if getattr(spec, "kind", "") == "hbm_stack" else "accelerator"  # a CPU is an IC too
    return profile.classify(spec.profile_values(), item=item)


# --- measured values: a lower bound on each capability metric -----------------------------------

def candidate_points(thresholds: Iterable[float], low: float, high: float = math.inf) -> list[float]:
    """Representative values of a variable on [low, high] for a predicate that only changes at
    `thresholds`: the ends, each threshold inside, and a point just above each."""
    points = {low}
    if math.isfinite(high):
        points.add(high)
    for t in thresholds:
        for p in (t, math.nextafter(t, math.inf) if t else 1e-9):
            if low <= p <= high:
                points.add(p)
    if not math.isfinite(high):
        points.add(max([low, *thresholds]) * 2 + 1)
    return sorted(points)


def region_outcomes(profile: Profile, ranges: Mapping[str, tuple[float, float]], fixed: Mapping[str, Any],
                    die_area_mm2: float | None, item: str = "accelerator") -> set[bool | None]:
    """Every value `conforms` takes when each capability metric in `ranges` (tpp,
    dram_bandwidth_gbps) ranges over [low, high] and the rest are `fixed`. Performance density
    follows from tpp / die area."""
    tpp_thresholds = list(profile.thresholds("tpp"))
    if die_area_mm2:
        tpp_thresholds += [pd * die_area_mm2 for pd in profile.thresholds("performance_density")]
    grids: dict[str, list[float]] = {}
    for metric, (low, high) in ranges.items():
        thresholds = tpp_thresholds if metric == "tpp" else profile.thresholds(metric)
        grids[metric] = candidate_points(thresholds, low, high)
    outcomes: set[bool | None] = set()
    for tpp_value in grids.get("tpp", [fixed.get("tpp")]):
        for bw in grids.get("dram_bandwidth_gbps", [fixed.get("dram_bandwidth_gbps")]):
            values = dict(fixed, tpp=tpp_value, dram_bandwidth_gbps=bw)
            values["performance_density"] = (metrics.performance_density(tpp_value, die_area_mm2)
                                             if tpp_value is not None else None)
            outcomes.add(profile.conforms(values, item))
    return outcomes


# --- what an uncertain declaration could change ---------------------------------------------------

def _spec_item(spec: Any) -> str:
    return "hbm_stack" if getattr(spec, "kind", "") == "hbm_stack" else "accelerator"


def _key(result: "Classification") -> tuple[Any, ...]:
    return (result.conforms, tuple(result.matched), tuple(result.undetermined), tuple(result.exempted_by))


def _segments(points: list[tuple[float, "Classification"]]) -> list[dict[str, Any]]:
    """Consecutive values with the same classification, merged into [from, to] segments."""
    segments: list[dict[str, Any]] = []
    for value, result in points:
        if segments and segments[-1]["_key"] == _key(result):
            segments[-1]["to"] = value
            continue
        segments.append({"from": value, "to": value, "classification": result.short(), "conforms": result.conforms,
                         "_key": _key(result)})
    for segment in segments:
        segment.pop("_key")
    return segments


def _edge_points(cuts: Iterable[float], low: float, high: float) -> list[float]:
    """Points on [low, high] that bracket every cut from both sides, so a segment ends just
    before a strict edge and the next begins at it."""
    cuts = list(cuts)
    below = [math.nextafter(c, -math.inf) for c in cuts]
    return sorted({p for p in candidate_points(cuts, low, high) + below if low <= p <= high})


def _factor(name: str, unit: str, low: float, high: float, basis: str,
            points: list[tuple[float, "Classification"]]) -> dict[str, Any]:
    segments = _segments(points)
    return {"input": name, "unit": unit, "range": [low, high], "basis": basis, "segments": segments,
            "changes": len(segments) > 1}


def sensitivity(spec: Any, profile: Profile) -> list[dict[str, Any]]:
    """For each uncertain input of a declared spec (an estimated or unpublished die area, a DRAM
    bandwidth whose sources conflict, an alternative TPP reading), the classifications the item
    takes across that input's range, the others held at their declared values. `changes` says
    whether the conclusion under this profile depends on it."""
    item, base = _spec_item(spec), spec.profile_values()
    tpp_value, factors = base["tpp"], []
    area_range = getattr(spec, "die_area_range", None)
    bandwidth = base.get("dram_bandwidth_gbps")
    stack = item == "hbm_stack" and bandwidth
    if area_range and (tpp_value or stack):
        low, high = area_range
        cuts = ([bandwidth / t for t in profile.thresholds("hbm_bandwidth_density")] if stack else
                [tpp_value / t for t in profile.thresholds("performance_density")])

        def at_area(a: float) -> dict[str, Any]:
            if stack:  # 3A090.c: memory bandwidth density of the stack's package
                return {**base, "hbm_bandwidth_density": bandwidth / a}
            return {**base, "performance_density": tpp_value / a}

        points = [(a, profile.classify(at_area(a), item)) for a in _edge_points(cuts, low, high)]
        factors.append(_factor("die area", "mm²", low, high, getattr(spec, "die_area_basis", "") or "estimate", points))
    bw_range = getattr(spec, "dram_bandwidth_range", None)
    if bw_range:
        low, high = bw_range
        points = [(b, profile.classify({**base, "dram_bandwidth_gbps": b}, item))
                  for b in _edge_points(profile.thresholds("dram_bandwidth_gbps"), low, high)]
        factors.append(_factor("DRAM bandwidth", "GB/s", low, high,
                               getattr(spec, "dram_bandwidth_basis", "") or "estimate", points))
    readings = spec.tpp_readings() if hasattr(spec, "tpp_readings") else []
    if len(readings) > 1:
        points = []
        for reading in sorted(readings, key=lambda r: r["tpp"]):
            pd = metrics.performance_density(reading["tpp"], spec.die_area_mm2)
            points.append((reading["tpp"], profile.classify({**base, "tpp": reading["tpp"], "performance_density": pd}, item)))
        factor = _factor("TPP reading", "TPP", points[0][0], points[-1][0], "interpretation", points)
        factor["readings"] = readings
        factors.append(factor)
    return factors


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def describe_factor(factor: Mapping[str, Any]) -> str:
    """One line: what the input's range is and which classification holds where."""
    low, high = factor["range"]
    head = f"{factor['input']} {_fmt(low)}–{_fmt(high)} {factor['unit']} ({factor['basis']})"
    if factor["input"] == "TPP reading":
        parts = [f"{_fmt(r['tpp'])} ({r['reading']}{', used' if r['used'] else ''})" for r in factor["readings"]]
        head = "TPP readings: " + "; ".join(parts)
    if not factor["changes"]:
        return f"{head}: {factor['segments'][0]['classification']} throughout (conclusion unchanged)"
    pieces = [f"{seg['classification']} for {_fmt(seg['from'])}–{_fmt(seg['to'])}" for seg in factor["segments"]]
    return f"{head}: {'; '.join(pieces)} — the conclusion depends on this value"


def declared_notes(spec: Any, profile: Profile) -> list[str]:
    """What a verdict on a declared spec should add: every alternative TPP reading, and each
    estimated input whose range would change the conclusion under this profile."""
    return [describe_factor(f) for f in sensitivity(spec, profile)
            if f["changes"] or f["input"] == "TPP reading"]


def conclusion_depends_on(spec: Any, profile: Profile) -> list[str]:
    """Descriptions of the estimated inputs across whose range the item's conformity itself (not
    just the paragraph) changes: a verdict resting on such a declaration is not supported."""
    return [describe_factor(f) for f in sensitivity(spec, profile)
            if len({seg["conforms"] for seg in f["segments"]}) > 1]
