"""The device specification database (configs/devices/*.yaml): load, validate, match, derive.

Per-dtype dense peaks are typed in, with a source for each; TPP and performance density are
always *computed* from them (metrics.max_tpp, metrics.performance_density). A host CPU gets a
derived spec (cores x clock x operations per cycle for its ISA), labelled an estimate.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from bench.analysis import metrics
from bench.errors import ConfigError, UsageError
from bench.yamlfile import read_yaml

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

CONFIDENCE = ("high", "medium", "low")
PEAK_UNITS = ("matrix", "vector")
KINDS = ("accelerator", "cpu", "hbm_stack")

# Formats whose bit length is a reading of the rule rather than a settled fact: when one of them
# sets the TPP, the TPP without it is printed beside (regulation.md §1.3; regulatory-audit.md 8).
INTERPRETIVE_FORMATS = {
    "tf32": "TF32 read at its 19 significant bits, not its 32-bit container",
    "fp6": "FP6 not counted at 6 bits (the trackers' FP4 x 4 reading)",
}
ARCHITECTURES_FILE = "_architectures.yaml"
CPU_SPEC_ID = "cpu"


def devices_dir() -> Traversable:
    return importlib.resources.files("bench.configs") / "devices"


@dataclasses.dataclass(frozen=True)
class Peak:
    """One dense theoretical peak, in 1e12 operations per second (TFLOPS / TOPS)."""

    dtype: str
    tops: float
    unit: str = "matrix"
    accumulate: str | None = None
    source: str = ""

    @property
    def tpp(self) -> float:
        return metrics.tpp(self.tops, self.dtype)


@dataclasses.dataclass(frozen=True)
class DerivedPeak:
    """units x clock x ops/clock/unit for each dtype the architecture table knows (1e12 op/s)."""

    architecture: str
    units: int
    clock_mhz: float
    tops_by_dtype: dict[str, float]
    source: str

    @property
    def tpp(self) -> float:
        return metrics.max_tpp(self.tops_by_dtype)[0]

    @property
    def tpp_dtype(self) -> str | None:
        return metrics.max_tpp(self.tops_by_dtype)[1]


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    """A declared accelerator specification. Bandwidths in GB/s, areas in mm², memory in GiB."""

    id: str
    name: str
    vendor: str
    architecture: str | None
    peaks: tuple[Peak, ...]
    datacenter: bool | None = True
    match: tuple[str, ...] = ()
    confidence: str = "medium"
    memory_gib: float | None = None
    dram_bandwidth_gbps: float | None = None
    die_area_mm2: float | None = None
    die_area_estimate: bool = False
    die_area_range: tuple[float, float] | None = None  # (low, high) when the area is not published
    die_area_basis: str = ""  # which dies are counted, and why the range
    dram_bandwidth_range: tuple[float, float] | None = None  # when an estimate or sources conflict
    dram_bandwidth_basis: str = ""
    interconnect_kind: str | None = None
    bidirectional_io_gbps: float | None = None
    derive: Mapping[str, Any] | None = None
    estimate: bool = False  # the whole spec is an estimate (host CPUs)
    kind: str = "accelerator"  # or "cpu", "hbm_stack"
    notes: str = ""
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    field_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    path: str = ""

    def best_tops(self) -> dict[str, float]:
        """The fastest dense peak per dtype (over units and accumulate modes), narrowest dtype
        first so that on a TPP tie the narrow format is named as setting it."""
        best: dict[str, float] = {}
        for peak in sorted(self.peaks, key=lambda p: metrics.bit_length(p.dtype)):
            best[peak.dtype] = max(best.get(peak.dtype, 0.0), peak.tops)
        return best

    def peak_tops(self, dtype: str, accumulate: str | None = None) -> float | None:
        """Declared peak for `dtype`: the given accumulate mode if listed, else the fastest."""
        dtype = canonical_dtype(dtype)
        variants = [p for p in self.peaks if p.dtype == dtype]
        if accumulate:
            exact = [p.tops for p in variants if p.accumulate == accumulate]
            if exact:
                return max(exact)
        return max((p.tops for p in variants), default=None)

    @property
    def tpp(self) -> float:
        return metrics.max_tpp(self.best_tops())[0]

    @property
    def tpp_dtype(self) -> str | None:
        return metrics.max_tpp(self.best_tops())[1]

    @property
    def performance_density(self) -> float | None:
        return metrics.performance_density(self.tpp, self.die_area_mm2)

    @property
    def hbm_bandwidth_density(self) -> float | None:
        """3A090.c 'memory bandwidth density' of a discrete HBM stack: GB/s per mm² of package."""
        if self.kind != "hbm_stack" or not self.dram_bandwidth_gbps or not self.die_area_mm2:
            return None
        return self.dram_bandwidth_gbps / self.die_area_mm2

    @property
    def performance_density_range(self) -> tuple[float, float] | None:
        """(lowest, highest) PD over the die-area range: a larger area gives a lower density."""
        if not self.die_area_range or not self.tpp:
            return None
        low, high = self.die_area_range
        return self.tpp / high, self.tpp / low

    def tpp_readings(self) -> list[dict[str, Any]]:
        """The TPP as used (strict max over bit lengths) and, where an interpretive format sets
        it, the TPP under the other reading. The first entry is the one every verdict uses."""
        best = self.best_tops()
        if not best:
            return []
        value, dtype = metrics.max_tpp(best)
        readings = [{"reading": f"max over all data types, set by {dtype}", "tpp": value, "dtype": dtype, "used": True}]
        remaining = dict(best)
        while dtype in INTERPRETIVE_FORMATS and len(remaining) > 1:
            remaining.pop(dtype)
            reading = INTERPRETIVE_FORMATS[dtype]
            value, dtype = metrics.max_tpp(remaining)
            readings.append({"reading": f"{reading}: set by {dtype}", "tpp": value, "dtype": dtype, "used": False})
        return readings

    def profile_values(self) -> dict[str, Any]:
        """The quantities a threshold profile tests, from the declaration (None = not known)."""
        return {
            "tpp": self.tpp,
            "performance_density": self.performance_density,
            "dram_bandwidth_gbps": self.dram_bandwidth_gbps,
            "bidirectional_io_gbps": self.bidirectional_io_gbps,
            "hbm_bandwidth_density": self.hbm_bandwidth_density,
            "datacenter": self.datacenter,
        }

    def is_named(self, name: str) -> bool:
        """Its id or name, ignoring case, spacing and hyphens (`H100 SXM` is `h100-sxm`)."""
        return _fold(name) in (_fold(self.id), _fold(self.name))

    def matches_pattern(self, name: str, vendor_implied: bool = False) -> bool:
        """One of its `match` patterns (driver names), case-insensitive, fits the whole name; with
        `vendor_implied`, the name with the vendor put in front (`A100-SXM4-40GB`)."""
        wanted = _normalise(name)
        if vendor_implied:
            wanted = f"{self.vendor} {wanted}"
        return any(re.fullmatch(pattern, wanted, flags=re.IGNORECASE) for pattern in self.match)

    def matches_name(self, name: str) -> bool:
        return self.is_named(name) or self.matches_pattern(name)

    def starts_with(self, prefix: str) -> bool:
        """Whether its id, or its name from any word on, starts with `prefix` (`h100`, `MI300`, `910B`)."""
        key = _fold(prefix)
        if not key:
            return False
        words = _fold(self.name).split()
        candidates = [_fold(self.id)] + [" ".join(words[i:]) for i in range(len(words))]
        return any(c.startswith(key) for c in candidates)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(tpp=self.tpp, tpp_dtype=self.tpp_dtype, performance_density=self.performance_density)
        return data


def canonical_dtype(dtype: str) -> str:
    """Run dtypes to database dtypes: FP8 variants share one rate; MX formats use element width."""
    aliases = {"fp8_e5m2": "fp8_e4m3", "fp8": "fp8_e4m3", "mxfp8": "fp8_e4m3", "mxfp4": "fp4",
               "nvfp4": "fp4", "mxfp6": "fp6"}
    return aliases.get(dtype, dtype)


def _normalise(name: str) -> str:
    return " ".join(str(name).split())


def _fold(name: str) -> str:
    return " ".join(str(name).replace("-", " ").replace("_", " ").casefold().split())


# --- loading and validation ----------------------------------------------------------------

def _require(entry: Mapping[str, Any], key: str, where: str, kinds: type | tuple[type, ...]) -> Any:
    if key not in entry or entry[key] is None:
        raise ConfigError(f"{where}: missing required key {_short_repr(key)}")
    value = entry[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
        raise ConfigError(f"{where}.{key}: expected {getattr(kinds, '__name__', kinds)}, got {_short_repr(value)}")
    return value


def _number(value: Any, where: str) -> float:
    """A finite positive number: a zero, negative, NaN or infinite peak, bandwidth or area in a
    declaration is an input error, never a criterion quietly skipped."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}: expected a finite positive number, got {_short_repr(value)}")
    return float(value)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "…"


def _range(block: Mapping[str, Any], nominal: float | None, where: str) -> tuple[float, float] | None:
    raw = block.get("range")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 2:
        raise ConfigError(f"{where}.range: expected [low, high]")
    low, high = (_number(v, f"{where}.range") for v in raw)
    if low > high or (nominal is not None and not low <= nominal <= high):
        raise ConfigError(f"{where}.range: [{low:g}, {high:g}] must be ordered and contain the value {_short_repr(nominal)}")
    return low, high


def _block(raw: Any, where: str, keys: set[str]) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping or null")
    unknown = set(raw) - keys
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    return raw


def _source(block: Mapping[str, Any], where: str, sources: Mapping[str, str]) -> str:
    key = block.get("source")
    if not key:
        raise ConfigError(f"{where}.source: every number needs a source")
    if not isinstance(key, str):
        raise ConfigError(f"{where}.source: expected a key of `sources`, got {_short_repr(key)}")
    if key not in sources:
        raise ConfigError(f"{where}.source: {_short_repr(key)} is not defined under `sources` (known: {', '.join(sources)})")
    return str(key)


def _parse_peak(raw: Any, where: str, sources: Mapping[str, str]) -> Peak:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with dtype, tops, source")
    dtype = _require(raw, "dtype", where, str)
    if dtype not in metrics.BIT_LENGTH:
        raise ConfigError(f"{where}.dtype: unknown dtype {_short_repr(dtype)}; known: {', '.join(metrics.BIT_LENGTH)}")
    unit = raw.get("unit", "matrix")
    if unit not in PEAK_UNITS:
        raise ConfigError(f"{where}.unit: {_short_repr(unit)} is not one of {', '.join(PEAK_UNITS)}")
    unknown = set(raw) - {"dtype", "tops", "unit", "accumulate", "source"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return Peak(dtype=dtype, tops=_number(raw.get("tops"), f"{where}.tops"), unit=unit,
                accumulate=raw.get("accumulate"), source=_source(raw, where, sources))


DEVICE_KEYS = {"id", "name", "vendor", "architecture", "datacenter", "match", "confidence", "notes",
               "peaks", "memory", "die_area", "interconnect", "derive", "kind", "estimate"}
MEMORY_KEYS = {"gib", "bandwidth_gbps", "estimate", "range", "basis", "source"}
AREA_KEYS = {"mm2", "estimate", "range", "basis", "source"}
LINK_KEYS = {"kind", "bidirectional_gbps", "basis", "source"}


def parse_device(raw: Any, where: str, sources: Mapping[str, str], path: str = "") -> DeviceSpec:
    """One `devices:` entry -> DeviceSpec; any problem is a ConfigError naming file and key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(raw) - DEVICE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    device_id = _require(raw, "id", where, str)
    if len(device_id) > 64 or not device_id.strip():
        raise ConfigError(f"{where}.id: expected a short id (at most 64 characters), got {_short_repr(device_id)}")
    where = f"{where} ({device_id})"
    is_stack = raw.get("kind") == "hbm_stack"
    peaks_raw = raw.get("peaks") or [] if is_stack else _require(raw, "peaks", where, list)
    if not isinstance(peaks_raw, list):
        raise ConfigError(f"{where}.peaks: expected a list")
    if not peaks_raw and not is_stack:
        raise ConfigError(f"{where}.peaks: at least one dense peak is needed")
    peaks = tuple(_parse_peak(p, f"{where}.peaks[{i}]", sources) for i, p in enumerate(peaks_raw))
    confidence = raw.get("confidence", "medium")
    if confidence not in CONFIDENCE:
        raise ConfigError(f"{where}.confidence: {_short_repr(confidence)} is not one of {', '.join(CONFIDENCE)}")
    datacenter = raw.get("datacenter", True)
    if datacenter is not None and not isinstance(datacenter, bool):
        raise ConfigError(f"{where}.datacenter: expected true or false")
    kind = raw.get("kind", "accelerator")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: {_short_repr(kind)} is not one of {', '.join(KINDS)}")
    for key in ("name", "vendor", "notes", "architecture"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise ConfigError(f"{where}.{key}: expected a string, got {_short_repr(raw[key])}")
    if not isinstance(raw.get("estimate", False), bool):
        raise ConfigError(f"{where}.estimate: expected true or false")
    field_sources: dict[str, str] = {}
    memory = _block(raw.get("memory"), f"{where}.memory", MEMORY_KEYS)
    if memory:
        field_sources["memory"] = _source(memory, f"{where}.memory", sources)
    area = _block(raw.get("die_area"), f"{where}.die_area", AREA_KEYS)
    if area:
        field_sources["die_area"] = _source(area, f"{where}.die_area", sources)
    link = _block(raw.get("interconnect"), f"{where}.interconnect", LINK_KEYS)
    if link:
        field_sources["interconnect"] = _source(link, f"{where}.interconnect", sources)
    derive = raw.get("derive")
    if derive is not None and not isinstance(derive, Mapping):
        raise ConfigError(f"{where}.derive: expected a mapping with units, clock_mhz, source")
    if derive:
        field_sources["derive"] = _source(derive, f"{where}.derive", sources)
        _number(derive.get("units"), f"{where}.derive.units")
        _number(derive.get("clock_mhz"), f"{where}.derive.clock_mhz")
    match = raw.get("match") or []
    if not isinstance(match, list):
        raise ConfigError(f"{where}.match: expected a list of patterns")
    for i, pattern in enumerate(match):
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"{where}.match[{i}]: not a valid pattern ({exc})") from None

    def optional(block: Mapping[str, Any], key: str, label: str) -> float | None:
        return _number(block[key], f"{where}.{label}.{key}") if block.get(key) is not None else None

    die_area = optional(area, "mm2", "die_area")
    area_range = _range(area, die_area, f"{where}.die_area")
    if area.get("estimate") and not area_range:
        raise ConfigError(f"{where}.die_area: an estimated area needs a range: [low, high]")
    bandwidth = optional(memory, "bandwidth_gbps", "memory")
    bw_range = _range(memory, bandwidth, f"{where}.memory")
    if bw_range and not (memory.get("estimate") or memory.get("basis")):
        raise ConfigError(f"{where}.memory: a bandwidth range needs `estimate: true` or a `basis` saying why")
    return DeviceSpec(
        id=device_id, name=_require(raw, "name", where, str), vendor=_require(raw, "vendor", where, str),
        architecture=raw.get("architecture"), peaks=peaks, datacenter=datacenter, match=tuple(match),
        confidence=confidence, memory_gib=optional(memory, "gib", "memory"),
        dram_bandwidth_gbps=bandwidth, die_area_mm2=die_area, die_area_estimate=bool(area.get("estimate", False)),
        die_area_range=area_range, die_area_basis=str(area.get("basis", "")),
        dram_bandwidth_range=bw_range, dram_bandwidth_basis=str(memory.get("basis", "estimate" if bw_range else "")),
        interconnect_kind=link.get("kind"), bidirectional_io_gbps=optional(link, "bidirectional_gbps", "interconnect"),
        derive=dict(derive) if derive else None, kind=kind, estimate=bool(raw.get("estimate", False)),
        notes=str(raw.get("notes", "")), sources=dict(sources), field_sources=field_sources, path=path)


DEVICE_FILE_VERSION = 1
DEVICE_FILE_KEYS = {"schema_version", "family", "sources", "devices"}


def parse_device_file(path: Path | Any) -> list[DeviceSpec]:
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping with `sources` and `devices`")
    unknown = set(data) - DEVICE_FILE_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))[:200]}")
    version = data.get("schema_version", DEVICE_FILE_VERSION)
    if type(version) is not int or version != DEVICE_FILE_VERSION:
        raise ConfigError(f"{path}: schema_version: this accelbench reads device files of version "
                          f"{DEVICE_FILE_VERSION} only")
    sources = data.get("sources") or {}
    if not isinstance(sources, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
        raise ConfigError(f"{path}: sources: expected a mapping of key -> citation text")
    devices = data.get("devices")
    if not isinstance(devices, list) or not devices:
        raise ConfigError(f"{path}: devices: expected a non-empty list")
    return [parse_device(raw, f"{path}: devices[{i}]", sources, str(path)) for i, raw in enumerate(devices)]


@dataclasses.dataclass
class Database:
    devices: list[DeviceSpec]
    architectures: dict[str, Any]
    cpu_isa: dict[str, Any]
    plausibility: dict[str, Any]

    def exact(self, name: str) -> list[DeviceSpec]:
        """Entries the name denotes exactly: by id or name if any, else by `match` pattern."""
        named = [s for s in self.devices if s.is_named(name)]
        return named or [s for s in self.devices if s.matches_pattern(name)]

    def lookup(self, name: str) -> list[DeviceSpec]:
        """Every entry a person could mean: the exact hits, or else every entry whose id or name
        starts with what was typed (`H100` -> SXM, PCIe and NVL), or else a driver name typed
        without its vendor (`A100-SXM4-40GB`)."""
        return (self.exact(name) or [s for s in self.devices if s.starts_with(name)]
                or [s for s in self.devices if s.matches_pattern(name, vendor_implied=True)])

    def find(self, name: str) -> DeviceSpec | None:
        """The one entry a driver-reported name or an id denotes, or None (unknown or ambiguous)."""
        hits = self.exact(name)
        return hits[0] if len(hits) == 1 else None

    def get(self, name: str) -> DeviceSpec:
        hits = self.lookup(name)
        if len(hits) == 1:
            return hits[0]
        if hits:
            listed = ", ".join(f"{s.id} ({s.name})" for s in hits)
            raise UsageError(f"{_short_repr(name)} is ambiguous: {len(hits)} parts match: {listed}; name one of these ids")
        known = ", ".join(s.id for s in self.devices)
        close = difflib.get_close_matches(_fold(name), [_fold(s.id) for s in self.devices], n=4, cutoff=0.6)
        hint = f"did you mean {', '.join(c.replace(' ', '-') for c in close)}? " if close else ""
        raise UsageError(f"no device {_short_repr(name)} in the specification database; {hint}known: {known}")

    def match_device(self, device: Mapping[str, Any]) -> DeviceSpec | None:
        """The declared spec for a run's `device` block: the derived host spec for CPUs,
        otherwise the entry whose match patterns fit the name the driver reported."""
        if device.get("backend") == "cpu":
            return cpu_spec_from_device(device, self)
        return self.find(device.get("name") or "")

    def derived_for_spec(self, spec: DeviceSpec) -> DerivedPeak | None:
        if not spec.derive or spec.architecture not in self.architectures:
            return None
        return derive_peak(self.architectures, spec.architecture, int(spec.derive["units"]),
                           float(spec.derive["clock_mhz"]))

    def derived_for_device(self, device: Mapping[str, Any], spec: DeviceSpec | None = None) -> DerivedPeak | None:
        """Derived peak from what the device reported (units, max clock) and its architecture."""
        if device.get("backend") == "cpu":
            return None  # the CPU's declared spec *is* derived; nothing independent to add
        units, clock = device.get("compute_units"), device.get("max_clock_mhz")
        if not units or not clock:
            return None
        arch = spec.architecture if spec and spec.architecture in self.architectures else None
        arch = arch or detect_architecture(self.architectures, device.get("architecture"))
        if not arch:
            return None
        return derive_peak(self.architectures, arch, int(units), float(clock))

    def plausibility_floor(self, kind: str, dtype: str | None, cpu: bool) -> float:
        """Share of the declared peak below which a measurement is implausibly low."""
        table = self.plausibility
        if cpu and kind in (table.get("cpu") or {}):
            return float(table["cpu"][kind])
        if kind == "gemm" and dtype and dtype in (table.get("by_dtype") or {}):
            return float(table["by_dtype"][dtype])
        return float((table.get("default") or {}).get(kind, 0.0))


def detect_architecture(architectures: Mapping[str, Any], reported: str | None) -> str | None:
    if not reported:
        return None
    for arch_id, arch in architectures.items():
        if reported in (arch.get("detect") or {}).get("architecture", []):
            return arch_id
    return None


def derive_peak(architectures: Mapping[str, Any], arch_id: str, units: int, clock_mhz: float) -> DerivedPeak:
    arch = architectures[arch_id]
    tops: dict[str, float] = {}
    for key, ops in arch["ops_per_clock_per_unit"].items():
        dtype = key.split("/")[0]
        tops[dtype] = max(tops.get(dtype, 0.0), metrics.peak_from_clock(units, clock_mhz, ops))
    return DerivedPeak(arch_id, units, clock_mhz, tops, arch.get("source", ""))


def _validate_architectures(data: Any, path: Any) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping")
    for arch_id, arch in (data.get("architectures") or {}).items():
        where = f"{path}: architectures.{arch_id}"
        if not arch.get("source"):
            raise ConfigError(f"{where}.source: every constant needs a source")
        for key, value in (arch.get("ops_per_clock_per_unit") or {}).items():
            if key.split("/")[0] not in metrics.BIT_LENGTH:
                raise ConfigError(f"{where}.ops_per_clock_per_unit.{key}: unknown dtype")
            _number(value, f"{where}.ops_per_clock_per_unit.{key}")
    for isa_id, isa in (data.get("cpu_isa") or {}).items():
        if not isa.get("source"):
            raise ConfigError(f"{path}: cpu_isa.{isa_id}.source: every constant needs a source")


def load_database(extra_files: Iterable[Path] = ()) -> Database:
    """All shipped device files, plus any extra files (same format). Ids must be unique."""
    folder = devices_dir()
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml") and not f.name.startswith("_")),
                   key=lambda f: f.name)
    devices: list[DeviceSpec] = []
    seen: dict[str, str] = {}
    for file in [*files, *map(Path, extra_files)]:
        for spec in parse_device_file(file):
            if spec.id in seen:
                raise ConfigError(f"{file}: device id {_short_repr(spec.id)} already defined in {seen[spec.id]}")
            seen[spec.id] = str(file)
            devices.append(spec)
    arch_path = folder / ARCHITECTURES_FILE
    arch_data = read_yaml(arch_path)
    _validate_architectures(arch_data, arch_path)
    return Database(devices, dict(arch_data.get("architectures") or {}), dict(arch_data.get("cpu_isa") or {}),
                    dict(arch_data.get("plausibility") or {}))


def load_declared(name_or_file: str, database: Database | None = None) -> DeviceSpec:
    """`--declared`: a database name, or a YAML file in the database format holding one device."""
    database = database or load_database()
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise UsageError(f"declared spec file {name_or_file} does not exist")
        specs = parse_device_file(path)
        if len(specs) != 1:
            raise ConfigError(f"{path}: devices: a declaration holds exactly one device, found {len(specs)}")
        return specs[0]
    if name_or_file.lower() == CPU_SPEC_ID:
        return host_cpu_spec(database)
    return database.get(name_or_file)


# --- host CPUs -------------------------------------------------------------------------------

def cpu_spec(name: str, vendor: str, flags: Iterable[str], cores: int, clock_mhz: float,
             cpu_isa: Mapping[str, Any], cpu_family: int | None = None) -> DeviceSpec:
    """Derived CPU spec: cores x clock x dense operations per cycle for the best ISA it has."""
    flags = set(flags)
    per_core: dict[str, float] = {}
    used: list[str] = []
    for isa_id, isa in cpu_isa.items():
        if "ops_per_clock_per_core" not in isa or not _isa_applies(isa, flags, vendor, cpu_family):
            continue
        used.append(isa_id)
        for dtype, ops in isa["ops_per_clock_per_core"].items():
            per_core[dtype] = max(per_core.get(dtype, 0.0), float(ops))
    for isa_id, isa in cpu_isa.items():  # rates defined relative to the fp32 FMA rate
        if "ops_per_clock_per_core_vs_fp32" in isa and _isa_applies(isa, flags, vendor, cpu_family) and "fp32" in per_core:
            used.append(isa_id)
            for dtype, factor in isa["ops_per_clock_per_core_vs_fp32"].items():
                per_core[dtype] = max(per_core.get(dtype, 0.0), per_core["fp32"] * float(factor))
    if not per_core:  # no known vector ISA: one scalar FMA per cycle
        per_core = {"fp64": 2.0, "fp32": 2.0}
        used.append("scalar (no AVX2/AVX-512 found)")
    sources = {isa_id: cpu_isa[isa_id]["source"] for isa_id in used if isa_id in cpu_isa}
    sources["host"] = f"derived from the host: {cores} cores x {clock_mhz:.0f} MHz x operations per cycle ({', '.join(used)})"
    peaks = tuple(Peak(dtype, metrics.peak_from_clock(cores, clock_mhz, ops), "vector", None, "host")
                  for dtype, ops in sorted(per_core.items()))
    return DeviceSpec(
        id=CPU_SPEC_ID, name=name, vendor=vendor, architecture="cpu " + " ".join(used), peaks=peaks,
        datacenter=None, match=(), confidence="low", estimate=True, kind="cpu",
        derive={"units": cores, "clock_mhz": clock_mhz, "source": "host"},
        notes="Estimate derived from the host (not a datasheet): all-core clocks under vector load are "
              "lower, and logical CPUs that are SMT siblings share FMA units.",
        sources=sources)


def _isa_applies(isa: Mapping[str, Any], flags: set[str], vendor: str, family: int | None) -> bool:
    if not set(isa.get("requires", [])) <= flags:
        return False
    if isa.get("requires_any") and not set(isa["requires_any"]) & flags:
        return False
    if isa.get("vendors") and vendor not in isa["vendors"]:
        return False
    if "cpu_family_min" in isa and (family is None or family < isa["cpu_family_min"]):
        return False
    if "cpu_family_max" in isa and family is not None and family > isa["cpu_family_max"]:
        return False
    return True


def _cpuinfo() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _max_clock_mhz(info: Mapping[str, str]) -> float:
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1000.0
    except (OSError, ValueError):
        pass
    nominal = re.search(r"@\s*([\d.]+)\s*GHz", info.get("model name", ""))
    if nominal:
        return float(nominal.group(1)) * 1000.0
    return float(info.get("cpu MHz") or 1000.0)


def host_cpu_spec(database: Database | None = None) -> DeviceSpec:
    """This host's derived CPU spec, from /proc/cpuinfo, cpufreq and os.cpu_count()."""
    database = database or load_database()
    info = _cpuinfo()
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(info.get("vendor_id", ""), info.get("vendor_id", "unknown"))
    family = int(info["cpu family"]) if info.get("cpu family", "").isdigit() else None
    return cpu_spec(info.get("model name", "host CPU"), vendor, info.get("flags", "").split(),
                    os.cpu_count() or 1, _max_clock_mhz(info), database.cpu_isa, family)


def cpu_spec_from_device(device: Mapping[str, Any], database: Database) -> DeviceSpec:
    """The derived spec of the CPU a run measured, from its `device` block only, so a stored run gets
    the same verdict on any machine (the CPU backend records isa_flags, cpu_family, cores and clock).
    What the block lacks stays unknown: no family means family-gated ISA entries do not apply."""
    extra = device.get("extra") or {}
    flags = extra.get("isa_flags") or (device.get("architecture") or "").split()[1:]
    family = extra.get("cpu_family")
    cores = int(device.get("compute_units") or 1)
    clock = float(device.get("max_clock_mhz") or 0.0)
    return cpu_spec(device.get("name") or "host CPU", device.get("vendor") or "unknown", flags, cores, clock,
                    database.cpu_isa, family if isinstance(family, int) else None)
