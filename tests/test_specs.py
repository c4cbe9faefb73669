"""Device specification database: computed TPP reproduces regulation.md §3, validation, matching, CPU."""

import pytest

from bench import specs
from bench.errors import ConfigError, UsageError

DB = specs.load_database()

# regulation.md §3 / §5 reference TPPs (published or derived), dense theoretical peak.
REFERENCE_TPP = {
    "a100-sxm": 4992, "a800": 4992, "h100-sxm": 15832, "h200-sxm": 15832, "h800": 15832,
    "h100-pcie": 12104, "h100-nvl": 13364, "h200-nvl": 13364, "h20": 2368, "l20": 1912, "l40s": 5864,
    "l40": 2896, "l4": 1936, "rtx-4090": 5285, "rtx-4090d": 4707, "mi250x": 6128, "mi300x": 20919,
    "mi325x": 20919, "b200": 36000, "gb200": 40000, "b300": 56000, "gaudi2": 6920, "gaudi3": 29360,
    "ascend-910": 4096, "ascend-910c": 12800, "ascend-950pr": 6800,
    "mi355x": 60398,  # strict max over bit lengths (FP6 at the FP4 rate); trackers' 40,265 uses FP4 (regulation.md §4.2)
}
REFERENCE_PD = {"a100-sxm": 6.04, "h100-sxm": 19.45, "h20": 2.91, "l20": 3.14, "l40s": 9.64, "rtx-4090": 8.68,
                "ascend-910": 8.98}
REQUIRED = ["a100-sxm", "a800", "h100-sxm", "h100-pcie", "h100-nvl", "h800", "h20", "h200-sxm", "h200-nvl", "b200",
            "gb200", "b300", "l20", "l40s", "l40", "l4", "rtx-4090", "rtx-4090d", "mi250x", "mi300x", "mi325x",
            "mi355x", "gaudi2", "gaudi3", "ascend-910", "ascend-910b", "ascend-910c", "ascend-950pr"]


@pytest.mark.parametrize("device_id, expected", sorted(REFERENCE_TPP.items()))
def test_computed_tpp_reproduces_reference(device_id, expected):
    assert DB.get(device_id).tpp == pytest.approx(expected, rel=0.0015)  # datasheet rounding (L20 1,913.6)


@pytest.mark.parametrize("device_id, expected", sorted(REFERENCE_PD.items()))
def test_performance_density(device_id, expected):
    assert DB.get(device_id).performance_density == pytest.approx(expected, abs=0.01)


def test_every_required_device_present_with_sources():
    for device_id in REQUIRED:
        spec = DB.get(device_id)
        assert spec.peaks and spec.confidence in specs.CONFIDENCE
        assert all(peak.source in spec.sources for peak in spec.peaks)
        assert spec.dram_bandwidth_gbps and spec.memory_gib


def test_tpp_is_max_not_sum_and_dense():
    spec = DB.get("rtx-4090")
    assert spec.tpp < sum(p.tpp for p in spec.peaks) / 2
    assert spec.peak_tops("fp8_e4m3") == 660.6
    assert spec.peak_tops("fp8_e4m3", "fp32") == 330.3
    assert spec.peak_tops("fp8_e5m2") == 660.6  # FP8 variants share a rate


@pytest.mark.parametrize("reported, device_id", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H200", "h200-sxm"),
    ("NVIDIA H200 NVL", "h200-nvl"), ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA GeForce RTX 4090 D", "rtx-4090d"),
    ("NVIDIA L40S", "l40s"), ("NVIDIA L40", "l40"), ("NVIDIA A100-SXM4-80GB", "a100-sxm"), ("AMD Instinct MI300X", "mi300x"),
    ("Ascend910B3", "ascend-910b"), ("NVIDIA H20", "h20"), ("h100-sxm", "h100-sxm")])
def test_driver_names_match_their_entry(reported, device_id):
    assert DB.match_device({"backend": "cuda", "name": reported}).id == device_id


def test_unknown_name_matches_nothing_and_get_is_usage_error():
    assert DB.find("NVIDIA H100 Imaginary") is None
    with pytest.raises(UsageError, match="known:"):
        DB.get("no-such-gpu")


def test_derived_peak_beside_datasheet():
    derived = DB.derived_for_spec(DB.get("mi300x"))
    assert derived.tops_by_dtype["fp16"] == pytest.approx(1307.4, rel=1e-3)
    assert DB.derived_for_spec(DB.get("h100-sxm")).tpp == pytest.approx(15832, rel=1e-3)
    detected = DB.derived_for_device({"backend": "cuda", "name": "NVIDIA H100 80GB HBM3", "compute_units": 132,
                                      "max_clock_mhz": 1980, "architecture": "sm_90"})
    assert detected.architecture == "hopper" and detected.tpp > 15832  # max boost clock above the datasheet clock


def test_cpu_spec_from_isa_flags():
    avx2 = specs.cpu_spec("x", "Intel", ["avx2", "fma"], cores=8, clock_mhz=3000, cpu_isa=DB.cpu_isa)
    assert avx2.peak_tops("fp32") == pytest.approx(8 * 3e9 * 32 / 1e12)
    assert avx2.estimate and avx2.kind == "cpu"
    amx = specs.cpu_spec("x", "Intel", ["avx2", "fma", "avx512f", "amx_tile", "amx_bf16"], 8, 2000, DB.cpu_isa)
    assert amx.peak_tops("bf16") == pytest.approx(8 * 2e9 * 1024 / 1e12)
    zen4 = specs.cpu_spec("x", "AMD", ["avx2", "fma", "avx512f"], 8, 3000, DB.cpu_isa, cpu_family=25)
    assert zen4.peak_tops("fp32") == avx2.peak_tops("fp32")


def test_host_cpu_spec_and_device_block():
    host = specs.host_cpu_spec(DB)
    assert host.tpp > 0 and "derived from the host" in host.sources["host"]
    spec = DB.match_device({"backend": "cpu", "name": "Some CPU", "vendor": "Intel", "compute_units": 4,
                            "max_clock_mhz": 2500, "extra": {"isa_flags": ["avx2", "fma"]}})
    assert spec.kind == "cpu" and spec.peak_tops("fp32") == pytest.approx(4 * 2.5e9 * 32 / 1e12)


def _write(tmp_path, text):
    path = tmp_path / "dev.yaml"
    path.write_text(text)
    return path


GOOD = """sources: {s: "a datasheet"}
devices:
  - id: mine
    name: My Part
    vendor: Me
    peaks: [{dtype: bf16, tops: 100, source: s}]
    memory: {gib: 16, bandwidth_gbps: 1000, source: s}
"""


def test_declared_file_loads(tmp_path):
    spec = specs.load_declared(str(_write(tmp_path, GOOD)), DB)
    assert spec.tpp == 1600 and spec.dram_bandwidth_gbps == 1000


@pytest.mark.parametrize("broken, message", [
    (GOOD.replace("dtype: bf16", "dtype: bf17"), "unknown dtype"),
    (GOOD.replace("source: s}]", "source: nope}]"), "not defined under `sources`"),
    (GOOD.replace(", source: s}]", "}]"), "needs a source"),
    (GOOD.replace("tops: 100", "tops: -1"), "non-negative"),
    (GOOD.replace("    vendor: Me\n", ""), "vendor"),
    (GOOD + "    colour: red\n", "unknown key"),
    ("devices: [", "malformed YAML"),
])
def test_malformed_spec_is_one_config_error_naming_file_and_key(tmp_path, broken, message):
    path = _write(tmp_path, broken)
    with pytest.raises(ConfigError, match=message) as info:
        specs.load_declared(str(path), DB)
    assert str(path) in str(info.value)
