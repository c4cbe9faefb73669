"""The input files accelbench reads, as TypedDicts: suite configs, test plans, device spec files and
threshold profiles. They mirror the loaders (bench/measure/config.py with each suite's schema on its registry
Suite in kernels/, bench/lab/plan.py, bench/rules/specs.py, bench/rules/profiles.py), which stay the authority on values (known dtypes, sources that must resolve,
positive sizes); these definitions say which keys exist and of what type, and the JSON Schemas
under docs/schema/ are generated from them. tests/test_record_schema.py checks that every shipped
file validates and that the key sets agree with the loaders' tables.
"""

import sys
from typing import Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, Required, TypedDict
else:
    from typing_extensions import NotRequired, Required, TypedDict


# --- suite configs (configs/suites/*.yaml) ---------------------------------------------------------

class TimingConfig(TypedDict, total=False):
    """bench.measure.policy.TimingPolicy fields; every one optional."""

    samples: int
    max_samples: int
    target_rel_ci: float
    min_sample_s: float
    max_measure_s: float
    max_iterations: int
    warmup_min_s: float
    warmup_max_s: float
    warmup_window: int
    warmup_stable_rel: float
    flush_cache: bool


class GemmSearchConfig(TypedDict, total=False):
    enabled: bool
    max_trials: int
    max_seconds: float
    patience: int
    min_improvement: float
    tile: int
    min_size: int
    max_size: int
    max_candidates: int
    start_sizes: list[int]
    trial_timing: TimingConfig


class GemmPerturbationConfig(TypedDict, total=False):
    enabled: bool
    variants: int
    min_offset: float
    max_offset: float
    flag_margin: float


class GemmSuiteConfig(TypedDict, total=False):
    dtypes: Required[list[str]]
    shapes: Required[list[list[int]]]  # [M, N, K]
    max_iteration_s: float
    search: GemmSearchConfig
    data_patterns: list[str]
    low_entropy_flag: float
    perturbation: GemmPerturbationConfig
    timing: TimingConfig


class AttentionShape(TypedDict):
    batch: int
    heads: int
    seq_len: int
    head_dim: int


class AttentionSuiteConfig(TypedDict, total=False):
    dtypes: Required[list[str]]
    shapes: Required[list[AttentionShape]]
    causal: list[bool]
    max_iteration_s: float
    timing: TimingConfig


class StreamSweepConfig(TypedDict, total=False):
    enabled: bool
    kernels: list[str]
    min_bytes: int
    max_llc_multiple: float
    points: int


class StreamSuiteConfig(TypedDict, total=False):
    kernels: Required[list[str]]
    dtype: str
    llc_multiple: float
    min_array_bytes: float
    target_array_bytes: float
    max_iteration_s: float
    sweep: StreamSweepConfig
    timing: TimingConfig


class InterconnectSuiteConfig(TypedDict, total=False):
    sizes_bytes: Required[list[int]]
    ops: list[str]
    dtype: str
    max_iteration_s: float
    timing: TimingConfig


class SuitesConfig(TypedDict, total=False):
    gemm: GemmSuiteConfig
    attention: AttentionSuiteConfig
    stream: StreamSuiteConfig
    interconnect: InterconnectSuiteConfig


class SuiteConfigFile(TypedDict, total=False):
    """A suite config: configs/suites/<name>.yaml, or a file given to `bench run --suite`."""

    name: Required[str]
    description: str
    seed: int
    timing: TimingConfig
    suites: SuitesConfig


# --- test plans ----------------------------------------------------------------------------------

class ManifestUnitEntry(TypedDict, total=False):
    """One expected unit: a serial or a uuid (at least one)."""

    serial: str | int
    uuid: str
    label: str
    stand_in: bool
    note: str


class Manifest(TypedDict, total=False):
    units: Required[list[ManifestUnitEntry | str | int]]
    lot: str | int
    device: str
    spread: float


class PlanFile(TypedDict, total=False):
    """A test plan (bench/lab/plan.py): what a lab fixes before it measures."""

    name: Required[str]
    description: str
    suite: str
    set: list[str] | str
    suites: list[str] | str
    dtypes: list[str] | str
    device: str
    parallel: bool
    profile: str
    declared: str
    decision_rule: Literal["simple", "guarded"]
    k: int
    repeats: int
    manifest: Manifest | list[ManifestUnitEntry | str | int]


# --- device spec files (configs/devices/*.yaml, `--declared FILE`) ----------------------------------

class PeakEntry(TypedDict):
    dtype: str
    tops: float
    source: str
    unit: NotRequired[Literal["matrix", "vector"]]
    accumulate: NotRequired[str | None]


class MemoryEntry(TypedDict, total=False):
    gib: float | None
    bandwidth_gbps: float | None
    estimate: bool
    range: list[float]  # [low, high], containing bandwidth_gbps
    basis: str
    source: Required[str]


class DieAreaEntry(TypedDict, total=False):
    mm2: float | None
    estimate: bool
    range: list[float]  # [low, high], containing mm2
    basis: str
    source: Required[str]


class InterconnectEntry(TypedDict, total=False):
    kind: str | None
    bidirectional_gbps: float | None
    basis: str
    source: Required[str]


class DeriveEntry(TypedDict):
    units: float
    clock_mhz: float
    source: str


class DeviceEntry(TypedDict, total=False):
    """One device of the spec database; every number names a key of the file's `sources`."""

    id: Required[str]
    name: Required[str]
    vendor: Required[str]
    peaks: list[PeakEntry]  # required except for an HBM stack
    architecture: str | None
    datacenter: bool | None
    match: list[str]
    confidence: Literal["high", "medium", "low"]
    notes: str
    memory: MemoryEntry | None
    die_area: DieAreaEntry | None
    interconnect: InterconnectEntry | None
    derive: DeriveEntry | None
    kind: Literal["accelerator", "cpu", "hbm_stack"]
    estimate: bool


class DeviceSpecFile(TypedDict, total=False):
    """A device spec file: configs/devices/<family>.yaml, or one device given to `--declared`."""

    family: str
    sources: dict[str, str]
    devices: Required[list[DeviceEntry]]


# --- threshold profiles (configs/profiles/*.yaml) -------------------------------------------------

class MetricCondition(TypedDict, total=False):
    metric: Required[str]
    op: Required[Literal[">=", ">", "<=", "<"]]
    value: Required[float]
    unit: Required[str]
    edge: Literal["strict", "inclusive"]


class FlagCondition(TypedDict):
    flag: str
    equals: bool


class AllGroup(TypedDict):
    all: list["MetricCondition | FlagCondition | AllGroup | AnyGroup"]


class AnyGroup(TypedDict):
    any: list["MetricCondition | FlagCondition | AllGroup | AnyGroup"]


class ProfileRule(TypedDict, total=False):
    """A class or an exemption: an id and exactly one of `all` / `any` (the loader checks "exactly")."""

    id: Required[str]
    description: str
    item: Literal["accelerator", "cpu", "hbm_stack"]
    unless: list[str]  # ids of classes that take precedence over this one
    source: str
    all: list[MetricCondition | FlagCondition | AllGroup | AnyGroup]
    any: list[MetricCondition | FlagCondition | AllGroup | AnyGroup]


class ProfileFile(TypedDict, total=False):
    """A threshold profile: configs/profiles/<id>.yaml, or one in $ACCELBENCH_PROFILES."""

    id: Required[str]
    title: Required[str]
    citation: Required[dict[str, str]]  # document (required by the loader), url, ...: open
    effective: Required[str]  # YYYY-MM-DD (YAML may read it as a date)
    effective_note: str
    destinations: str
    conforms_when: Required[Literal["outside", "inside"]]
    labels: dict[str, str]
    classes: Required[list[ProfileRule]]
    exemptions: list[ProfileRule]
    notes: list[str]


