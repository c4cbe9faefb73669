"""The run record as a typed contract: what `bench run` writes into run.json and `bench check` into
verdict.json, as TypedDicts.

TypedDicts describe plain dicts, so reading and writing stay exact JSON round trips (`bench verify`
recomputes from those dicts and compares). `bench.record.validate` walks these definitions; the JSON
Schemas under docs/schema/ are generated from them (`python -m bench.record.jsonschema`).

Open and closed blocks. A *closed* block (every TypedDict here) lists all its keys: the strict
validation the tests run refuses a key the code writes but this file does not name, so code and
schema cannot drift apart. An *open* block (typed `dict[str, Any]` below, named in OPEN_BLOCKS) is an
echo of an input or of a vendor library (the suite config, a case's shape and parameters, device
extras, audit settings, identity fields, a verdict's profile and declaration): its keys belong to the
module that produced it and are not constrained here.

No `from __future__ import annotations` in this module: Required/NotRequired must be visible to
typing at class creation.

Version history and the rule for bumping SCHEMA_VERSION: docs/schema/README.md.
"""

import sys
from typing import Any, Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, Required, TypedDict
else:  # typing_extensions comes with torch; Python 3.10 has no Required/NotRequired
    from typing_extensions import NotRequired, Required, TypedDict

SCHEMA_VERSION = 1
# Bump when a change alters what a number means (timing rule, byte or FLOP counting, statistic).
METHOD_VERSION = "1.0"

RunStatus = Literal["running", "complete", "incomplete", "failed"]
Outcome = Literal["pass", "fail", "inconclusive"]

# Blocks whose keys are not constrained (see the module docstring), as dotted paths for the docs.
OPEN_BLOCKS = (
    "config", "conventions", "device.extra", "measurements[].shape", "measurements[].params",
    "measurements[].timing.policy", "measurements[].timing.warmup", "skips[].shape", "skips[].params",
    "audit.*.settings", "identity.sources[].fields", "telemetry.by_source", "summary.anti_detection",
    "verdict.profile", "verdict.declared", "verdict.detected", "plan.manifest[]",
)


# --- small pieces ---------------------------------------------------------------------------------

class Tool(TypedDict):
    name: str
    version: str
    git_commit: str | None


class Host(TypedDict):
    hostname: str
    os: str
    python: str
    machine: str
    logical_cpus: int | None
    torch_threads: NotRequired[int]  # absent in the host record of a multi-unit node


class Software(TypedDict):
    torch: str
    numpy: str
    cuda: str | None
    hip: str | None
    python: str
    cudnn: NotRequired[int | None]


class Device(TypedDict, total=False):
    """bench.devices.base.DeviceInfo.to_dict(). The code writes every key; only backend and name are
    required, and a reader treats an absent key as None ("the backend cannot tell")."""

    backend: Required[str]
    name: Required[str]
    torch_device: str
    vendor: str
    index: int | None
    memory_bytes: int | None
    compute_units: int | None
    compute_unit_kind: str | None
    architecture: str | None
    capability: str | None
    max_clock_mhz: float | None
    l2_cache_bytes: int | None
    last_level_cache_bytes: int | None
    driver_version: str | None
    runtime_version: str | None
    torch_version: str
    extra: dict[str, Any]


class FailedUnitDevice(TypedDict):
    """What a unit record says about a device whose worker wrote no run.json."""

    backend: str
    name: str | None
    torch_device: str


class Spread(TypedDict):
    min: float
    median: float
    max: float


# --- identity ------------------------------------------------------------------------------------

class IdentitySource(TypedDict):
    source: str
    available: bool
    reason: str | None
    fields: dict[str, Any]
    missing: dict[str, str]
    note: NotRequired[str]


class IdentityGap(TypedDict):
    source: str
    reason: str | None
    field: NotRequired[str]


class Identity(TypedDict):
    """bench.devices.identity.collect_identity(); `backend` is absent when only a stand-in serial was added."""

    backend: NotRequired[str]
    sources: list[IdentitySource]
    gaps: list[IdentityGap]


# --- audit ---------------------------------------------------------------------------------------

class Finding(TypedDict):
    severity: str
    code: str
    message: str
    lowers_results: NotRequired[bool]  # absent in trimmed reference runs (tests/data)
    raises_results: NotRequired[bool]


class Unavailable(TypedDict):
    what: str
    reason: str


class AuditSnapshot(TypedDict):
    settings: NotRequired[dict[str, Any]]
    findings: list[Finding]
    unavailable: NotRequired[list[Unavailable]]


class Audit(TypedDict):
    before: AuditSnapshot
    after: NotRequired[AuditSnapshot]
    changes: NotRequired[list[Finding]]
    findings: NotRequired[list[Finding]]


# --- telemetry -----------------------------------------------------------------------------------

class TelemetrySourceWindow(TypedDict, total=False):
    samples: int
    clock_mhz: Spread | None
    power_w: Spread | None
    temperature_c: Spread | None
    utilization_pct: Spread | None
    energy_j: float | None
    energy_method: str | None
    throttle_reasons: list[str]


class Telemetry(TypedDict, total=False):
    """The telemetry window of one measurement (bench.devices.telemetry.summarize_samples / empty_summary).
    The code writes every key; only `observed` is required so trimmed reference runs still load."""

    observed: Required[bool]
    sources: list[str]
    not_observed: list[Unavailable]
    samples: int
    duration_s: float | None
    clock_mhz: Spread | None
    power_w: Spread | None
    energy_j: float | None
    energy_method: str | None
    temperature_c: Spread | None
    utilization_pct: Spread | None
    throttle_reasons: list[str]
    throttled: bool
    at_power_limit: bool  # a power limiter at the rated (default) limit: the operating point, not throttling
    not_implemented: str  # the device has no telemetry source at all (NPU, XPU, MPS): said once, not a gap
    by_source: dict[str, TelemetrySourceWindow]


# --- uncertainty ---------------------------------------------------------------------------------

class UncertaintyComponent(TypedDict):
    name: str
    type: str  # "A" or "B" (GUM)
    relative_standard_uncertainty: float
    note: str
    degrees_of_freedom: float | None
    standard_uncertainty: float


class Uncertainty(TypedDict):
    """bench.analysis.uncertainty.apply(): the GUM budget of one measurement."""

    value: float
    u: float
    U: float
    k: float
    unit: str | None
    relative_U: float
    effective_dof: float | None
    components: list[UncertaintyComponent]
    warnings: list[str]


# --- a measurement and a skip --------------------------------------------------------------------

class Work(TypedDict):
    flops: int
    bytes: int


class TimingOverhead(TypedDict):
    """The run's per-sample harness cost (run["probe"]) against this measurement's sample length."""

    per_sample_s: float
    fraction_of_sample: float


class TimingRecord(TypedDict):
    iterations: int
    clock: str
    resolution_s: float
    stop_reason: str
    warmup: dict[str, Any]
    policy: dict[str, Any]
    samples_s: list[float]
    overhead: NotRequired[TimingOverhead]


class SampleStats(TypedDict):
    """bench.analysis.stats.summarize() of the per-iteration seconds."""

    n: int
    mean: float
    median: float
    std: float
    cv: float
    min: float
    max: float
    p10: float
    p90: float
    iqr: float
    ci95_low: float
    ci95_high: float


class PerWatt(TypedDict):
    """bench.devices.telemetry.throughput_per_watt: throughput per watt of mean or median power."""

    value: float
    unit: str
    power_w: float
    power_basis: str


class Throughput(TypedDict):
    value: float
    unit: str
    statistic: str
    ci95: list[float]
    best: float
    per_watt: NotRequired[PerWatt | None]


class CheckRecord(TypedDict):
    passed: bool
    max_error: float
    tolerance: float
    detail: str


class Measurement(TypedDict):
    id: str
    suite: str
    kernel: str
    dtype: str
    shape: dict[str, Any]
    params: dict[str, Any]
    work: Work
    timing: TimingRecord
    stats: SampleStats
    throughput: Throughput
    check: CheckRecord
    warnings: list[str]
    status: Literal["ok", "failed"]
    telemetry: NotRequired[Telemetry]
    uncertainty: NotRequired[Uncertainty]


class Skip(TypedDict):
    id: str
    suite: str
    kernel: str
    dtype: str
    shape: dict[str, Any]
    params: dict[str, Any]
    reason: str


# --- GEMM shape search ---------------------------------------------------------------------------

class GemmShape(TypedDict):
    m: int
    n: int
    k: int


class SearchTrial(TypedDict):
    shape: GemmShape
    value: float | None
    seconds: float
    phase: str
    move: str


# "from" is a Python keyword, so this one block uses the functional form.
SearchBest = TypedDict("SearchBest", {"shape": GemmShape, "value": "float | None", "from": str})


class SearchRecord(TypedDict):
    """bench.analysis.search.SearchRecord.to_dict(), one per dtype under run["searches"]."""

    strategy: str
    budget: dict[str, Any]
    space: dict[str, Any]
    trials: list[SearchTrial]
    measured_trials: int
    best: SearchBest | None
    stop_reason: str
    elapsed_s: float
    dtype: NotRequired[str]
    trial_timing: NotRequired[dict[str, Any]]


# --- summary -------------------------------------------------------------------------------------

class Peak(TypedDict):
    value: float
    unit: str
    ci95: list[float]
    measurement_id: str


class TppEntry(TypedDict):
    tops: float
    bit_length: int
    tpp: float
    measurement_id: str
    ci95_tops: list[float]


class EffectiveTpp(TypedDict):
    max: float | None
    dtype: str | None
    by_dtype: dict[str, TppEntry]


class StreamPeak(TypedDict):
    value: float
    ci95: list[float]
    measurement_id: str
    array_bytes: int | None
    llc_multiple: float | None


class EffectiveBandwidth(TypedDict):
    value: float | None
    kernel: str | None
    measurement_id: str | None
    ci95: NotRequired[list[float]]


class HeadlineUncertainty(TypedDict):
    value: float
    U: float
    k: float
    relative_U: float | None
    measurement_id: str
    source: str


class HeadlineUncertainties(TypedDict, total=False):
    tpp: HeadlineUncertainty
    dram_bandwidth_gbps: HeadlineUncertainty


class InterconnectPeak(TypedDict):
    busbw: float
    algbw: float
    unit: str
    world_size: int
    factor: float
    backend: str | None
    message_bytes: int
    measurement_id: str


class Counts(TypedDict):
    measurements: int
    skips: int
    failed_checks: int


class ExcludedCase(TypedDict):
    """A case that may not set a headline peak (bench.analysis.summary.indefensible) and why."""

    measurement_id: str | None
    reason: str


class Summary(TypedDict):
    """bench.analysis.summary.build_summary(): derived only from the stored measurements."""

    effective_tpp: EffectiveTpp
    gemm_peak: dict[str, Peak]
    attention_peak: dict[str, Peak]
    stream: dict[str, StreamPeak]
    effective_dram_bandwidth: EffectiveBandwidth
    uncertainty: HeadlineUncertainties
    counts: Counts
    interconnect: NotRequired[dict[str, InterconnectPeak]]
    anti_detection: NotRequired[dict[str, Any]]
    excluded_from_peaks: NotRequired[list[ExcludedCase]]


# --- verdict -------------------------------------------------------------------------------------

class CheckSummary(TypedDict):
    id: str
    title: str
    outcome: str
    summary: str


class Criterion(TypedDict):
    check: str
    id: str
    description: str
    metric: str | None
    unit: str | None
    limit: float | None
    declared: Any
    derived: float | None
    measured: float | None
    U: float | None
    acceptance_limit: float | None
    outcome: str
    note: str


class VerdictParameters(TypedDict):
    profile: str | None
    declared: str | None
    rule: str | None
    max_relative_u: NotRequired[float | None]


class Judged(TypedDict):
    """What a stored verdict.json judged (bench.record.verdict_file.stale_verdict compares it with run.json)."""

    run_id: str | None
    run_json_sha256: str


class Verdict(TypedDict):
    """bench.rules.verdict.Verdict.to_dict(): verdict.json, or run["verdict"] with `parameters`."""

    verdict: str
    exit_code: int
    profile: dict[str, Any]
    rule: str
    declared: dict[str, Any]
    detected: dict[str, Any]
    uncertainty_source: str
    checks: list[CheckSummary]
    statement: str
    notes: list[str]
    criteria: list[Criterion]
    reason: NotRequired[str | None]  # "uncertainty too large" when nothing defensible set a headline value
    parameters: NotRequired[VerdictParameters]
    schema_version: NotRequired[int]  # verdict.json
    judged: NotRequired[Judged]  # verdict.json


class StoredVerdict(Verdict):
    """run["verdict"]: a verdict kept inside run.json, with what `bench verify` re-runs it with."""


# --- plans, units, ranks -------------------------------------------------------------------------

class Plan(TypedDict):
    """bench.lab.plan.Plan.record(): what every run.json a plan produced carries under "plan"."""

    path: str
    sha256: str
    name: str | None
    lot: str | None
    profile: str | None
    declared: str | None
    decision_rule: str | None
    k: float | None
    repeats: int | None
    manifest: list[dict[str, Any]]


class UnitBlock(TypedDict):
    """run["unit"] in a unit's own run.json (bench.lab.multiunit.unit_block)."""

    label: str
    parent_run_id: str
    stand_in: bool
    label_note: str | None
    assigned_serial: str | None


class Distributed(TypedDict):
    rank: int
    world_size: int
    local_rank: int
    launcher: str
    backend: str


class Probe(TypedDict):
    """bench.measure.probe.DeviceProbe.to_dict(): the run's first probe of the device."""

    per_sample_overhead_s: float
    overhead_max_s: float
    fill_bytes_per_s: float | None
    clock: str
    overhead_multiple: int
    min_sample_s: float


class _RunBody(TypedDict, total=False):
    """The keys a single-device run and a unit record share (all optional at this level)."""

    schema_version: int
    method_version: str
    tool: Tool
    run_id: str
    started_at: str | None
    ended_at: str | None
    command: list[str]
    host: Host
    software: Software
    identity: Identity | None
    audit: Audit
    config: dict[str, Any]
    conventions: dict[str, str]
    summary: Summary | None
    searches: dict[str, SearchRecord]
    probe: Probe
    plan: Plan | None
    verdict: StoredVerdict
    distributed: Distributed
    interrupted: str
    error: str


class UnitRecord(_RunBody, total=False):
    """One entry of a multi-unit node's `units`: the unit's full run plus how its worker ended."""

    status: Required[RunStatus]
    measurements: Required[list[Measurement]]
    skips: Required[list[Skip]]
    device: Required[Device | FailedUnitDevice]
    unit: Required[str]
    run_dir: Required[str]
    device_spec: Required[str]
    stand_in: Required[bool]
    label_note: Required[str | None]
    exit_code: Required[int | None]
    output_tail: list[str]


class Run(_RunBody, total=False):
    """run.json. A single-device run has device/identity/audit; a multi-unit node (kind
    "multi-unit") has mode/units/problems instead."""

    # A run requires these four keys that a unit record may lack. mypy flags narrowing an inherited
    # key; declaring them here rather than moving them out of _RunBody keeps the published key order.
    schema_version: Required[int]  # type: ignore[misc]
    method_version: Required[str]  # type: ignore[misc]
    run_id: Required[str]  # type: ignore[misc]
    status: Required[RunStatus]
    started_at: Required[str | None]  # type: ignore[misc]
    measurements: Required[list[Measurement]]
    skips: Required[list[Skip]]
    device: Device
    unit: UnitBlock
    kind: Literal["multi-unit"]
    mode: str
    units: list[UnitRecord]
    problems: list[str]
