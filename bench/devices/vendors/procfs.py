"""The host CPU through Linux procfs and sysfs: /proc/cpuinfo, /proc/stat, /proc/loadavg, cpufreq,
and RAPL energy counters. One parser per file; every path is injectable for tests.

Host knobs (governor, turbo, thread caps) lower results only when the CPU itself is measured;
on an accelerator run they are recorded as information (M8)."""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from bench.devices.vendors.common import AuditRecord, SourceRecord

NAME = "cpu"
CPUINFO = Path("/proc/cpuinfo")
SYS = Path("/sys")
STEAL_WINDOW_S = 0.5
BUSY_LOAD_SHARE = 0.5  # 1-minute load above half the usable CPUs before we start = someone else is computing
BUSY_STEAL_SHARE = 0.05


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def parse_cpuinfo(content: str) -> dict[str, Any]:
    """/proc/cpuinfo -> model, vendor, family (int), microcode, flags, logical and physical core counts (x86 and Arm)."""
    blocks = [b for b in content.strip().split("\n\n") if b.strip()]
    entries = [dict((k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in b.splitlines())) for b in blocks]
    first = entries[0] if entries else {}
    cores = {(e.get("physical id"), e.get("core id")) for e in entries if "core id" in e}
    arm_model = " ".join(filter(None, (first.get("CPU implementer"), first.get("CPU part")))) or None
    flags = first.get("flags") or first.get("Features")
    family = first.get("cpu family")
    mhz = [float(e["cpu MHz"]) for e in entries if re.fullmatch(r"[\d.]+", e.get("cpu MHz", "") or "")]
    return {
        "model": first.get("model name") or first.get("Hardware") or arm_model,
        "vendor": first.get("vendor_id") or first.get("CPU implementer"),
        "cpu_family": int(family) if family and family.isdigit() else None,
        "family_model_stepping": "/".join(first[k] for k in ("cpu family", "model", "stepping") if k in first) or None,
        "microcode": first.get("microcode"),
        "logical_cpus": sum(1 for e in entries if "processor" in e) or None,
        "physical_cores": len(cores) or None,
        "sockets": len({e.get("physical id") for e in entries if "physical id" in e}) or None,
        "flags": sorted(flags.split()) if flags else None,
        "hypervisor": None if flags is None else "hypervisor" in flags.split(),
        "cpu_mhz": {"min": min(mhz), "max": max(mhz)} if mhz else None,
    }


def cpuinfo(path: Path = CPUINFO) -> dict[str, Any]:
    return parse_cpuinfo(read(path) or "")


def max_clock_mhz(sys_cpu: Path = SYS / "devices/system/cpu", cpuinfo_path: Path = CPUINFO) -> tuple[float | None, str]:
    """(MHz, clock source): cpufreq's maximum (the boost clock) when the kernel exposes it, else
    /proc/cpuinfo's 'cpu MHz', which in VMs is often the nominal clock and can sit below boost."""
    khz = read(sys_cpu / "cpu0/cpufreq/cpuinfo_max_freq")
    if khz and khz.isdigit():
        return int(khz) / 1000.0, "cpufreq cpuinfo_max_freq"
    mhz = (cpuinfo(cpuinfo_path).get("cpu_mhz") or {}).get("max")
    return (float(mhz), "/proc/cpuinfo cpu MHz (may be below the boost clock)") if mhz else (None, "unknown")


def meminfo_bytes(field: str, path: Path = Path("/proc/meminfo")) -> int | None:
    """A /proc/meminfo field ('MemTotal', 'MemAvailable') in bytes."""
    for line in (read(path) or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == field and value.split() and value.split()[0].isdigit():
            return int(value.split()[0]) * 1024
    return None


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -- identity --------------------------------------------------------------------------------------
def identity(cpuinfo_path: str | Path = CPUINFO) -> dict[str, Any]:
    src = SourceRecord(NAME)
    content = read(Path(cpuinfo_path))
    if content is None:
        src.result["reason"] = f"{cpuinfo_path} unreadable"
    parsed = parse_cpuinfo(content or "")
    parsed.pop("cpu_mhz")
    parsed["model"] = parsed["model"] or platform.processor() or None
    parsed["architecture"] = platform.machine() or None
    parsed["os_logical_cpus"] = os.cpu_count()
    for field, value in parsed.items():
        src.put(field, value, src.result["reason"] or f"not in {cpuinfo_path} on this platform")
    return src.result


# -- competing load: is the host ours alone? ------------------------------------------------------
def parse_stat_cpu(content: str) -> list[int] | None:
    """The aggregate 'cpu' line of /proc/stat: user nice system idle iowait irq softirq steal ..."""
    for line in content.splitlines():
        if line.startswith("cpu "):
            return [int(x) for x in line.split()[1:]]
    return None


def steal_share(before: list[int], after: list[int]) -> float | None:
    """Share of CPU time stolen by the hypervisor between two /proc/stat reads."""
    if len(before) < 8 or len(after) < 8:
        return None
    total = sum(after[:8]) - sum(before[:8])
    return (after[7] - before[7]) / total if total > 0 else None


def host_load(proc: Path = Path("/proc"), window_s: float = STEAL_WINDOW_S,
              sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """1-minute load average, running tasks and hypervisor steal over `window_s`, with the usable CPU count."""
    load = (read(proc / "loadavg") or "").split()
    first = parse_stat_cpu(read(proc / "stat") or "")
    sleep(window_s)
    second = parse_stat_cpu(read(proc / "stat") or "")
    running = load[3].split("/")[0] if len(load) > 3 else None
    return {"load_1min": float(load[0]) if load else None,
            "running_tasks": int(running) if running and running.isdigit() else None,
            "steal_share": steal_share(first, second) if first and second else None,
            "window_s": window_s, "usable_cpus": usable_cpus()}


def load_findings(a: AuditRecord, load: Mapping[str, Any], measured_cpu: bool) -> None:
    """Competing host load is a clear warning on a CPU run, information otherwise. Not counted as
    lowering results (the verdict decides): the load before a run cannot show what ran during it."""
    a.section("occupancy")["host"] = dict(load)
    cpus, load1, steal = load.get("usable_cpus") or 1, load.get("load_1min"), load.get("steal_share")
    busy = []
    if load1 is not None and load1 > BUSY_LOAD_SHARE * cpus:
        busy.append(f"1-minute load {load1:.2f} on {cpus} usable CPUs")
    if steal is not None and steal > BUSY_STEAL_SHARE:
        busy.append(f"hypervisor steal {steal:.0%} of CPU time")
    if busy:
        severity = "medium" if measured_cpu else "info"
        a.add(severity, "host_busy", f"host CPU is busy before measuring ({'; '.join(busy)}): other work competes "
              "with the benchmark" + (" and CPU results may read low" if measured_cpu else ""))


# -- configuration audit ---------------------------------------------------------------------------
def audit_frequency(a: AuditRecord, sys_root: Path, measured_cpu: bool) -> None:
    cpus = sorted((sys_root / "devices/system/cpu").glob("cpu[0-9]*/cpufreq"))
    host = a.section("host")
    weight = (lambda s: s) if measured_cpu else (lambda s: "info")
    if not cpus:
        a.missing("host.cpu_governor", f"no {sys_root}/devices/system/cpu/cpu*/cpufreq (usual in VMs and containers: "
                                       "the hypervisor or firmware controls frequency)")
    else:
        governors = sorted({g for g in (read(c / "scaling_governor") for c in cpus) if g})
        host["cpu_governor"] = governors or None
        for key in ("scaling_cur_freq", "scaling_max_freq", "cpuinfo_max_freq"):
            khz = [int(v) for v in (read(c / key) for c in cpus) if v and v.isdigit()]
            if khz:
                host[f"{key}_mhz"] = {"min": min(khz) / 1000, "max": max(khz) / 1000}
        if governors and governors != ["performance"]:
            a.add(weight("medium"), "cpu_governor_not_performance",
                  f"CPU frequency governor is {', '.join(governors)}, not performance", lowers=measured_cpu)
        capped = [c.parent.name for c in cpus if (read(c / "scaling_max_freq") or "").isdigit()
                  and (read(c / "cpuinfo_max_freq") or "").isdigit()
                  and int(read(c / "scaling_max_freq")) < int(read(c / "cpuinfo_max_freq"))]
        if capped:
            a.add(weight("high"), "clocks_locked_low", f"scaling_max_freq below cpuinfo_max_freq on {len(capped)} CPUs "
                  f"(e.g. {capped[0]})", lowers=measured_cpu)
    boost = read(sys_root / "devices/system/cpu/cpufreq/boost")
    no_turbo = read(sys_root / "devices/system/cpu/intel_pstate/no_turbo")
    if boost is not None:
        host["cpu_boost"] = boost == "1"
    if no_turbo is not None:
        host["intel_no_turbo"] = no_turbo == "1"
    if boost == "0" or no_turbo == "1":
        a.add(weight("medium"), "clocks_locked_low", "CPU turbo/boost is disabled", lowers=measured_cpu)


# -- telemetry -------------------------------------------------------------------------------------
class CpuSource:
    """Host CPU frequency (cpufreq, else /proc/cpuinfo) and package energy (RAPL, often root-only)."""

    name = NAME

    def __init__(self, sys_root: str = "/sys", cpuinfo_path: str = "/proc/cpuinfo"):
        self.gaps: dict[str, str] = {}
        self.sys_root, self.cpuinfo = Path(sys_root), Path(cpuinfo_path)
        self.freq_files: list[Path] = []
        self.rapl_files: list[Path] = []

    def start(self) -> None:
        self.freq_files = sorted((self.sys_root / "devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))
        if not self.freq_files and not self.cpuinfo.exists():
            raise RuntimeError("neither cpufreq nor /proc/cpuinfo is readable")
        if not self.freq_files:
            self.gaps["clock_mhz (live)"] = ("no cpufreq scaling_cur_freq; clock read from /proc/cpuinfo 'cpu MHz', "
                                             "which in VMs is often the nominal value, not the live one")
        self.rapl_files = sorted((self.sys_root / "class/powercap").glob("intel-rapl:[0-9]*/energy_uj"))
        if not self.rapl_files:
            self.gaps["energy_j"] = f"no RAPL package domains under {self.sys_root}/class/powercap"
        self.gaps.setdefault("power_w", "CPU power is not sampled; energy comes from RAPL where readable")
        self.gaps["temperature_c"] = "CPU temperature is not sampled"
        self.gaps["utilization_pct"] = "CPU utilisation is not sampled"
        self.gaps["throttle_reasons"] = "the CPU exposes no throttle reasons here"

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        mhz = self._frequencies_mhz()
        if mhz:
            out["clock_mhz"] = statistics.fmean(mhz)
        if "energy_j" not in self.gaps:
            try:
                out["energy_j"] = sum(int(p.read_text()) for p in self.rapl_files) * 1e-6  # uJ
            except (OSError, ValueError) as error:
                self.gaps["energy_j"] = f"RAPL energy_uj unreadable: {type(error).__name__}: {error}"
        return out

    def _frequencies_mhz(self) -> list[float]:
        if self.freq_files:
            return [int(p.read_text()) / 1000 for p in self.freq_files]
        return [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", self.cpuinfo.read_text(), re.M)]

    def stop(self) -> None:
        pass
