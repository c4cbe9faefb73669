"""Test plans: what a lab fixes before it measures (test-lab.md §5.1), as one YAML file.

    name: lot-2026-001                 # required
    suite: quick                       # shipped suite name or YAML path (default: default)
    set: ["timing.samples=5"]          # config overrides, as `--set`
    suites: [gemm, stream]             # subset of the suite's suites
    dtypes: [bf16, fp32]               # subset of gemm/attention dtypes
    device: cuda:all                   # as --device
    parallel: true                     # every device at once (as in production) or one after another
    profile: us-2026-01                # threshold profile judged after measuring
    declared: "NVIDIA H20"             # declared spec: database name or YAML file
    decision_rule: guarded             # guarded (w = U) or simple (w = 0)
    k: 2                               # coverage factor of U (this version: 2)
    repeats: 1                         # whole-run repeats (this version: 1)
    manifest:                          # the shipment's expected units
      lot: LOT-7
      units:
        - {serial: "1650123456789", label: gpu-a}
        - {uuid: "GPU-...."}
        - {serial: "SIM-2", stand_in: true}   # CPU only: a CPU process stands in for this unit

The SHA-256 of the file's bytes is recorded as run["plan"] in every run.json the plan produces.
A plan that does not validate is one ConfigError naming the file and the key, before anything runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from bench.errors import BenchError, ConfigError, RecordError, UsageError
from bench.measure.config import load_suite_config
from bench.record.folder import safe_label
from bench.rules.profiles import load_profile
from bench.yamlfile import parse_yaml

RULES = ("simple", "guarded")
SUPPORTED_K = (2,)
SUPPORTED_REPEATS = (1,)
KEYS = ("name", "description", "suite", "set", "suites", "dtypes", "device", "parallel", "profile", "declared",
        "decision_rule", "k", "repeats", "manifest")
UNIT_KEYS = ("serial", "uuid", "label", "stand_in", "note")


@dataclasses.dataclass(frozen=True)
class ManifestUnit:
    serial: str | None = None
    uuid: str | None = None
    label: str | None = None
    stand_in: bool = False
    note: str | None = None

    @property
    def unit_id(self) -> str:
        return self.serial or self.uuid or ""


@dataclasses.dataclass(frozen=True)
class Plan:
    path: str
    sha256: str
    name: str
    suite: str = "default"
    overrides: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    device: str | None = None
    parallel: bool = False
    profile: str | None = None
    declared: str | None = None
    decision_rule: str = "guarded"
    k: float = 2
    repeats: int = 1
    lot: str | None = None
    manifest: tuple[ManifestUnit, ...] = ()
    description: str | None = None

    def record(self) -> dict[str, Any]:
        """What every run.json produced by this plan carries under "plan"."""
        return {"path": self.path, "sha256": self.sha256, "name": self.name, "lot": self.lot,
                "profile": self.profile, "declared": self.declared, "decision_rule": self.decision_rule,
                "k": self.k, "repeats": self.repeats,
                "manifest": [dataclasses.asdict(unit) for unit in self.manifest]}

    def apply(self, request: Any) -> Any:
        """A new RunRequest measuring what this plan fixes. A command line that also sets one of
        those options is refused (a worker's request, which the parent built, is not)."""
        clashing = request.clashes_with_plan()
        if clashing and request.unit is None:
            raise UsageError(f"--plan fixes what is measured; drop {', '.join(clashing)} or edit {self.path}")
        device = self.device if self.device and request.device == type(request)().device else request.device
        return dataclasses.replace(request, suite=self.suite, overrides=self.overrides, suites=self.suites,
                                   dtypes=self.dtypes, profile=self.profile, declared=self.declared,
                                   decision_rule=self.decision_rule, device=device,
                                   parallel=request.parallel or self.parallel, plan=self, plan_path=self.path)

    @property
    def stand_ins(self) -> tuple[ManifestUnit, ...]:
        return tuple(unit for unit in self.manifest if unit.stand_in)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fail(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}")


def _string(path: Path, data: dict, key: str, default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _fail(path, key, f"{value!r} is not a non-empty string")
    return value


def _string_list(path: Path, data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, key, f"{value!r} is not a list of strings")
    return tuple(value)


def _manifest(path: Path, data: Any) -> tuple[str | None, tuple[ManifestUnit, ...]]:
    if data is None:
        return None, ()
    if isinstance(data, list):
        data = {"units": data}
    if not isinstance(data, dict) or not isinstance(data.get("units"), list) or not data["units"]:
        raise _fail(path, "manifest", "expected {lot, units: [...]} or a list of units, each with serial or uuid")
    unknown = sorted(set(data) - {"lot", "units", "device", "spread"})
    if unknown:
        raise _fail(path, f"manifest.{unknown[0]}", "unknown key (known: lot, units, device, spread)")
    units = []
    for i, entry in enumerate(data["units"]):
        where = f"manifest.units[{i}]"
        if isinstance(entry, (str, int)) and not isinstance(entry, bool):
            entry = {"serial": str(entry)}
        if not isinstance(entry, dict):
            raise _fail(path, where, f"{entry!r} is not a serial or a mapping")
        unknown = sorted(set(entry) - set(UNIT_KEYS))
        if unknown:
            raise _fail(path, f"{where}.{unknown[0]}", f"unknown key (known: {', '.join(UNIT_KEYS)})")
        if not (entry.get("serial") or entry.get("uuid")):
            raise _fail(path, where, "needs a serial or a uuid")
        label = entry.get("label")
        if label is not None:
            try:
                safe_label(label)
            except RecordError as exc:
                raise _fail(path, f"{where}.label", str(exc)) from None
        if not isinstance(entry.get("stand_in", False), bool):
            raise _fail(path, f"{where}.stand_in", "must be true or false")
        units.append(ManifestUnit(**{k: (str(v) if k not in ("stand_in",) and v is not None else v)
                                     for k, v in entry.items()}))
    ids = [u.unit_id for u in units]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise _fail(path, "manifest.units", f"listed more than once: {', '.join(repeated)}")
    labels = [u.label for u in units if u.label]
    if len(labels) != len(set(labels)):
        raise _fail(path, "manifest.units", "labels must be unique")
    return (str(data["lot"]) if data.get("lot") is not None else None), tuple(units)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file. Raises ConfigError naming the file and the key."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read plan ({exc.strerror})") from None
    data = parse_yaml(raw, str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level: expected a mapping of plan keys ({', '.join(KEYS)})")
    unknown = sorted(set(data) - set(KEYS), key=str)
    if unknown:
        raise _fail(path, str(unknown[0]), f"unknown key (known: {', '.join(KEYS)})")
    name = _string(path, data, "name")
    if not name:
        raise _fail(path, "name", "missing (every plan has a name)")
    rule = data.get("decision_rule", "guarded")
    if rule not in RULES:
        raise _fail(path, "decision_rule", f"{rule!r} is not one of {', '.join(RULES)}")
    k = data.get("k", 2)
    if k not in SUPPORTED_K or isinstance(k, bool):
        raise _fail(path, "k", f"{k!r}: this version computes U with k = 2 only")
    repeats = data.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise _fail(path, "repeats", f"{repeats!r} is not a positive integer")
    if repeats not in SUPPORTED_REPEATS:
        raise _fail(path, "repeats", f"{repeats}: this version runs each unit once (repeats: 1); "
                                     "run the plan again for more, each run is signed on its own")
    parallel = data.get("parallel", False)
    if not isinstance(parallel, bool):
        raise _fail(path, "parallel", f"{parallel!r} is not true or false")
    overrides = _string_list(path, data, "set")
    if any("=" not in item for item in overrides):
        raise _fail(path, "set", "each entry is KEY=VALUE, e.g. suites.gemm.dtypes=[bf16]")
    lot, manifest = _manifest(path, data.get("manifest"))
    device = _string(path, data, "device")
    if any(u.stand_in for u in manifest) and (device or "cpu").split(":")[0] != "cpu":
        raise _fail(path, "manifest.units", "stand_in units are CPU processes: set device: cpu")
    for key in ("suite", "profile", "declared", "description"):
        _string(path, data, key)
    if data.get("declared") and not data.get("profile"):
        raise _fail(path, "declared", "a declared spec is judged against a profile: add profile: (e.g. us-2026-01)")
    return Plan(path=str(path), sha256=sha256_bytes(raw), name=name, suite=data.get("suite", "default"),
                overrides=overrides, suites=_string_list(path, data, "suites"),
                dtypes=_string_list(path, data, "dtypes"), device=device, parallel=parallel,
                profile=data.get("profile"), declared=data.get("declared"), decision_rule=rule, k=k,
                repeats=repeats, lot=lot, manifest=manifest, description=data.get("description"))


def validate_against_config(plan: Plan) -> dict[str, Any]:
    """Resolve and validate the suite config the plan names (so a bad plan fails before running);
    profile and declared spec are loaded too. Returns the resolved config."""
    try:
        config = load_suite_config(plan.suite, list(plan.overrides))
    except ConfigError as exc:
        raise ConfigError(f"{plan.path}: suite/set: {exc}") from None
    unknown = [s for s in plan.suites if s not in config["suites"]]
    if unknown:
        raise _fail(Path(plan.path), "suites", f"{', '.join(unknown)} not in suite {config['name']} "
                                               f"(it has {', '.join(config['suites'])})")
    if plan.profile:
        try:
            load_profile(plan.profile)
        except BenchError as exc:
            raise ConfigError(f"{plan.path}: profile: {exc}") from None
    return config
