"""Device specification database: computed TPP reproduces regulation.md §3 and the audit
(shared/research/regulatory-audit.md), new parts and their classification, estimate ranges,
validation, name lookup, the `bench specs` and `bench profiles` commands, CPU specs."""

import json
import re

import pytest

from bench import cli
from bench.errors import ConfigError, UsageError
from bench.rules import profiles, specs

DB = specs.load_database()

# regulation.md §3 / §5 reference TPPs (published or derived), dense theoretical peak.
REFERENCE_TPP = {
    "a100-sxm": 4992, "a800": 4992, "h100-sxm": 15832, "h200-sxm": 15832, "h800": 15832,
    "h100-pcie": 12104, "h100-nvl": 13364, "h200-nvl": 13364, "h20": 2368, "l20": 1912, "l40s": 5864,
    "l40": 2896, "l4": 1940, "rtx-4090": 5285, "rtx-4090d": 4707, "mi250x": 6128, "mi300x": 20919,
    "mi325x": 20919, "b200": 36000, "gb200": 40000, "b300": 56000, "gaudi2": 6920, "gaudi3": 29360,
    "ascend-910": 4096, "ascend-910c": 12800, "ascend-950pr": 6800,
    "mi355x": 60398,  # strict max over bit lengths (FP6 at the FP4 rate); trackers' 40,265 uses FP4 (regulation.md §4.2)
}
# New parts (issue 13 item 5) and corrections (item 4): expected TPP by hand, with the source of each.
NEW_TPP = {
    "l4": 1940.0,            # 242.5 x 8: datasheet 485 sparse / 2 (audit A.2; was 1,936)
    "gb200": 40000.0,        # FP4 10,000 x 4; FP64/FP32 corrected to 45/90 (klockwood, audit A.3), TPP unaffected
    "l2": 1545.6,            # TF32 48.3 x 32 (Tom's Hardware H20/L20/L2); FP8 193 x 8 = 1,544
    "a100-sxm-40gb": 4992.0,  # INT4 1,248 x 4 (A100 datasheet; same compute as 80 GB)
    "a800-pcie": 4992.0,     # INT8 624 x 8 (s-w-kelly chipData.js, A800 datasheet)
    "h800-pcie": 12104.0,    # FP8 1,513 x 8 (s-w-kelly chipData.js, H800 datasheet)
    "h20-141gb": 2368.0,     # FP8 296 x 8 (Tom's Hardware H20)
    "mi300a": 15689.6,       # FP8 1,961.2 x 8 (s-w-kelly chipData.js: 15,690)
    "mi350x": 55365.0,       # FP6 9,227.5 x 6 (FP6 at the FP4 rate, CDNA4); FP4 x 4 = 36,910 (tracker)
    "mi210": 2899.2,         # FP64 matrix 45.3 x 64 (104 CUs x 1,700 MHz x 256); FP16 181 x 16 = 2,896 (tracker)
    "b100": 28800.0,         # TF32 900 x 32 (s-w-kelly chipData.js); FP4 7,000 x 4 = 28,000 is the tracker's figure
    "gb300": 60000.0,        # FP4 15,000 x 4 (verda.com, regulation.md §3)
    "rtx-5090": 6704.0,      # 3,352 AI TOPS (FP4 sparse) / 2 x 4 (Tom's Hardware; audit D.3: ~6,704)
    "rtx-5090d": 4750.0,     # 2,375 / 2 x 4 (Tom's Hardware RTX 5090D V2 article)
    "rtx-5090d-v2": 4750.0,  # as 5090 D
    "mi308x": 2368.0,        # assumption only: "close to the H20" (s-w-kelly), flagged estimate
    "b30a": 28000.0,         # estimate: half a B300 (Reuters via press)
    "ascend-910b": 5120.0,   # FP16 320 x 16 (boardor.com; claims range 256–376, low confidence)
}


def test_every_part_in_the_database_has_a_checked_tpp():
    assert {s.id for s in DB.devices} <= set(REFERENCE_TPP) | set(NEW_TPP)
# Expected `short` classification under every profile, worked out by hand from the rule texts:
# (us-2022-10, us-2023-10, us-2024-12, us-2026-01-tariff, us-2026-01).
PROFILE_ORDER = ("us-2022-10", "us-2023-10", "us-2024-12", "us-2026-01-tariff", "us-2026-01")
A, B, NOTE2, CBC = "3A090.a.1, 3A090.a.2", "3A090.b.1, 3A090.b.2", "outside (Note 2 to 3A090)", "case-by-case"
NEW_CLASSIFICATION = {
    "l4": ("none", "3A090.a.2", "3A090.a.2", "none", CBC),           # PD 6.59 >= 5.92 over the whole area range
    "gb200": ("3A090.a", A, A, "none", "none"),                        # 40,000 > 21,000
    "l2": ("none", "none", "none", "none", CBC),                       # TPP < 1,600
    "a100-sxm-40gb": ("3A090.a", A, A, "none", CBC),                   # NVLink 600 meets "600 or more"
    "a800-pcie": ("none", A, A, "none", CBC),                          # 400 GB/s < 600
    "h800-pcie": ("none", A, A, "none", CBC),
    "h20-141gb": ("none", "none", "none", "none", CBC),                # TPP 2,368 < 2,400, PD 2.91 < 3.2
    "mi300a": ("none", A, A, "none", CBC),                             # IF 512 < 600; 5,300 GB/s above band 1
    "mi350x": ("3A090.a", A, A, "none", "none"),
    "mi210": ("none", B, B, "none", CBC),                              # 2,400 <= 2,899 < 4,800, PD 3.67
    "b100": ("3A090.a", A, A, "none", "none"),
    "gb300": ("3A090.a", A, A, "none", "none"),
    "rtx-5090": ("none", A, A, "none", CBC),                           # not datacentre, but TPP >= 4,800
    "rtx-5090d": ("none", NOTE2, NOTE2, "none", CBC),                  # 4,750 < 4,800 and not datacentre
    "rtx-5090d-v2": ("none", NOTE2, NOTE2, "none", CBC),
    "mi308x": ("none", "? 3A090.a.2, 3A090.b.2", "? 3A090.a.2, 3A090.b.2", "none", "? case-by-case"),  # PD, BW unknown
    "b30a": ("? 3A090.a", A, A, "none", "none"),                       # I/O unknown; TPP ~28,000 > 21,000
    "ascend-910c": ("? 3A090.a", A, A, "none", CBC),                   # 784 GB/s is die-to-die (audit D.5)
    "ascend-910": ("none", "3A090.a.2", "3A090.a.2", "none", CBC),
    "mi325x": ("3A090.a", A, A, "band-2", CBC),
    "h200-sxm": ("3A090.a", A, A, "band-1", CBC),
}
# PD range (lowest, highest) over the recorded die-area range, by hand.
PD_RANGES = {"mi300x": (20919.2 / 4352, 20919.2 / 880), "ascend-910": (4096 / 1314.25, 4096 / 456.25),
             "mi355x": (60397.8 / 2596, 60397.8 / 880), "l4": (1940 / 324, 1940 / 265),
             "mi300a": (15689.6 / 4303, 15689.6 / 871), "mi350x": (55365 / 2596, 55365 / 880),
             "mi210": (2899.2 / 858, 2899.2 / 711), "b100": (28800 / 1716, 28800 / 1465), "l2": (1545.6 / 324, 1545.6 / 265),
             "ascend-910c": (12800 / 1716, 12800 / 665.61), "b30a": (28000 / 858, 28000 / 700),
             "b200": (36000 / 1716, 36000 / 1465)}
REFERENCE_PD = {"a100-sxm": 6.04, "h100-sxm": 19.45, "h20": 2.91, "l20": 3.14, "l40s": 9.64, "rtx-4090": 8.68,
                "ascend-910": 8.98, "rtx-5090": 8.94, "mi210": 3.67, "mi300x": 8.86}
REQUIRED = ["a100-sxm", "a800", "h100-sxm", "h100-pcie", "h100-nvl", "h800", "h20", "h200-sxm", "h200-nvl", "b200",
            "gb200", "b300", "l20", "l40s", "l40", "l4", "rtx-4090", "rtx-4090d", "mi250x", "mi300x", "mi325x",
            "mi355x", "gaudi2", "gaudi3", "ascend-910", "ascend-910b", "ascend-910c", "ascend-950pr"]


@pytest.mark.parametrize("device_id, expected", sorted(REFERENCE_TPP.items()))
def test_computed_tpp_reproduces_reference(device_id, expected):
    assert DB.get(device_id).tpp == pytest.approx(expected, rel=0.0015)  # datasheet rounding (L20 1,913.6)


@pytest.mark.parametrize("device_id, expected", sorted(REFERENCE_PD.items()))
def test_performance_density(device_id, expected):
    assert DB.get(device_id).performance_density == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("device_id, expected", sorted(NEW_TPP.items()))
def test_new_and_corrected_parts_tpp(device_id, expected):
    assert DB.get(device_id).tpp == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("device_id, expected", sorted(NEW_CLASSIFICATION.items()))
def test_new_parts_classification_under_each_profile(device_id, expected):
    got = tuple(profiles.classify_spec(DB.get(device_id), profiles.load_profile(p)).short() for p in PROFILE_ORDER)
    assert got == expected


@pytest.mark.parametrize("device_id, expected", sorted(PD_RANGES.items()))
def test_performance_density_range_over_the_area_range(device_id, expected):
    assert DB.get(device_id).performance_density_range == pytest.approx(expected, rel=1e-6)


def test_value_corrections():
    gb200 = DB.get("gb200")
    assert (gb200.peak_tops("fp64"), gb200.peak_tops("fp32")) == (45, 90)
    assert DB.get("l4").peak_tops("fp8_e4m3") == 242.5 and DB.get("l4").peak_tops("int8") == 242.5
    c = DB.get("ascend-910c")
    assert c.bidirectional_io_gbps is None and "die-to-die" in c.notes
    for device_id, nominal in [("b200", 7700), ("b300", 8000)]:
        spec = DB.get(device_id)
        assert spec.dram_bandwidth_gbps == nominal and spec.dram_bandwidth_range == (7700, 8000)
        assert "conflict" in spec.dram_bandwidth_basis
    amd = DB.get("mi300x")
    assert amd.die_area_mm2 > 1017 and amd.die_area_range[0] == 880 and "I/O" in amd.die_area_basis
    assert DB.get("ascend-910").die_area_range == (456.25, 1314.25)


def test_every_estimate_is_flagged_with_a_range_and_every_number_sourced():
    for spec in DB.devices:
        assert spec.field_sources.keys() <= {"memory", "die_area", "interconnect", "derive"}
        assert all(key in spec.sources for key in (*spec.field_sources.values(), *(p.source for p in spec.peaks)))
        if spec.die_area_estimate:
            assert spec.die_area_range, spec.id
    for device_id in ("mi308x", "b30a"):
        spec = DB.get(device_id)
        assert spec.estimate and spec.confidence == "low"


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
    ("Ascend910B3", "ascend-910b"), ("NVIDIA H20", "h20"), ("h100-sxm", "h100-sxm"),
    ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb"), ("NVIDIA A800 80GB PCIe", "a800-pcie"), ("NVIDIA H800 PCIe", "h800-pcie"),
    ("NVIDIA H800", "h800"), ("NVIDIA GeForce RTX 5090", "rtx-5090"), ("NVIDIA GeForce RTX 5090 D", "rtx-5090d"),
    ("NVIDIA GeForce RTX 5090 D v2", "rtx-5090d-v2"), ("AMD Instinct MI300A", "mi300a"), ("AMD Instinct MI210", "mi210"),
    ("NVIDIA H20 141GB HBM3e", "h20-141gb"), ("nvidia h100 80gb hbm3", "h100-sxm"), ("H200 NVL", "h200-nvl")])
def test_driver_names_match_their_entry(reported, device_id):
    assert DB.match_device({"backend": "cuda", "name": reported}).id == device_id


def test_every_id_name_and_literal_pattern_denotes_exactly_one_part():
    for spec in DB.devices:
        literals = [p for p in spec.match if not re.search(r"[.*?+\[\]()|]", p)]
        for name in (spec.id, spec.name, spec.id.upper(), *literals):
            assert [s.id for s in DB.exact(name)] == [spec.id], name


@pytest.mark.parametrize("typed, expected", [
    ("H100", ["h100-sxm", "h100-pcie", "h100-nvl"]), ("h200", ["h200-sxm", "h200-nvl"]), ("h200-nvl", ["h200-nvl"]),
    ("H200 SXM", ["h200-sxm"]), ("mi300", ["mi300x", "mi300a"]), ("MI300X", ["mi300x"]), ("910b", ["ascend-910b"]),
    ("5090", ["rtx-5090", "rtx-5090d", "rtx-5090d-v2"]), ("a100", ["a100-sxm", "a100-sxm-40gb"]), ("b200", ["b200"]),
    ("l4", ["l4"]), ("zzz", []), ("A100-SXM4-40GB", ["a100-sxm-40gb"]), ("Instinct MI300X", ["mi300x"])])
def test_lookup_by_the_names_people_type(typed, expected):
    assert [s.id for s in DB.lookup(typed)] == expected


def test_ambiguous_name_is_a_usage_error_listing_the_candidates():
    with pytest.raises(UsageError, match=r"'H100' is ambiguous: 3 parts match: h100-sxm .*h100-pcie .*h100-nvl"):
        DB.get("H100")
    assert DB.get("h100 pcie").id == "h100-pcie" and DB.get("MI300A").id == "mi300a"
    assert DB.find("H100") is None  # a driver name must denote one part, never a guess
    with pytest.raises(UsageError, match="did you mean h100-sxm"):
        DB.get("h10-sxm")
    # a memory variant not in the database must not fall into another variant's entry
    assert DB.find("NVIDIA A800 PCIe 40GB") is None and DB.find("NVIDIA A100-PCIE-40GB") is None


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
    (GOOD.replace("tops: 100", "tops: -1"), "finite positive"),
    (GOOD.replace("tops: 100", "tops: 0"), "finite positive"),
    (GOOD.replace("tops: 100", "tops: .nan"), "finite positive"),
    (GOOD.replace("tops: 100", "tops: .inf"), "finite positive"),
    (GOOD.replace("bandwidth_gbps: 1000", "bandwidth_gbps: 0"), "finite positive"),
    (GOOD.replace("bandwidth_gbps: 1000", "bandwidth_gbps: .nan"), "finite positive"),
    (GOOD.replace("bandwidth_gbps: 1000", "bandwidth_gbps: 1000, range: [900, 1100]"), "needs `estimate: true`"),
    (GOOD.replace("bandwidth_gbps: 1000", "bandwidth_gbps: 1000, estimate: true, range: [1100, 1200]"), "contain"),
    (GOOD.replace("gib: 16", "gib: 16, colour: red"), "unknown key"),
    (GOOD + "    kind: banana\n", "kind: 'banana' is not one of"),
    (GOOD + "    die_area: {mm2: .nan, source: s}\n", "finite positive"),
    (GOOD + "    die_area: {mm2: 600, estimate: true, source: s}\n", "needs a range"),
    (GOOD + "    interconnect: 5\n", "expected a mapping"),
    (GOOD + "    match: NVIDIA\n", "expected a list"),
    (GOOD + "    estimate: maybe\n", "true or false"),
    (GOOD.replace("name: My Part", "name: [1, 2]"), "expected a string"),
    (GOOD.replace("    vendor: Me\n", ""), "vendor"),
    (GOOD + "    colour: red\n", "unknown key"),
    ("devices: [", "malformed YAML"),
])
def test_malformed_spec_is_one_config_error_naming_file_and_key(tmp_path, broken, message):
    path = _write(tmp_path, broken)
    with pytest.raises(ConfigError, match=message) as info:
        specs.load_declared(str(path), DB)
    assert str(path) in str(info.value)


def test_bad_declared_file_is_exit_2_with_one_line(tmp_path, capsys):
    path = _write(tmp_path, GOOD + "    kind: banana\n")
    assert cli.main(["specs", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "banana" in err and "Traceback" not in err


# --- the commands ------------------------------------------------------------------------------------

def test_specs_lists_every_part_a_prefix_names(capsys):
    assert cli.main(["specs", "H100"]) == 0
    out = capsys.readouterr().out
    assert "3 parts match 'H100'" in out and all(i in out for i in ("h100-sxm", "h100-pcie", "h100-nvl"))
    assert cli.main(["specs", "h200", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["query"]["matches"] == ["h200-sxm", "h200-nvl"]
    assert cli.main(["specs", "no-such-gpu"]) == 2
    assert "no device 'no-such-gpu'" in capsys.readouterr().err


def test_specs_of_one_known_part_in_full(capsys):
    assert cli.main(["specs", "h100-sxm", "--profile", "us-2026-01"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == "" and lines[:4] == [
        "NVIDIA H100 SXM (h100-sxm) — NVIDIA, hopper; confidence high",
        "  TPP 15,832.0 (set by fp8_e4m3; the reading every verdict uses)",
        "  performance density 19.45; applicable die area 814.0 mm²",
        "  memory 80 GiB at 3,350 GB/s (datasheet peak, all stacks); interconnect NVLink 4 900 GB/s bidirectional; "
        "datacenter: True"]
    assert lines[4] == "  dense peaks (1e12 op/s):" and len(lines[5:13]) == len(DB.get("h100-sxm").peaks)
    assert "    bf16          989.50 (matrix) -> TPP 15,832   [h100-ds]" in lines[5:13]
    assert lines[13:15] == [
        "  derived: 132 units x 1830 MHz (hopper) -> TPP 15,831",
        "  us-2026-01: within the numeric case-by-case limits (TPP < 21,000 and total DRAM bandwidth < 6,500 GB/s); "
        "the policy applies only to licensable exports from the US [case-by-case]"]
    assert lines[15] == "  sources:" and [line.split(":")[0].strip() for line in lines[16:]] == [
        "h100-ds", "kelly", "hopper-wp", "nvlink4"]  # only the sources something above cites
    assert not any("also starting with" in line for line in lines)


def test_specs_of_one_part_names_the_longer_ids_it_starts(capsys):
    assert cli.main(["specs", "a100-sxm", "--profile", "us-2026-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NVIDIA A100") and "(a100-sxm)" in lines[0]
    assert lines[-1] == "  also starting with 'a100-sxm': a100-sxm-40gb"


def test_specs_json_of_one_part(capsys):
    assert cli.main(["specs", "h100-sxm", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"devices", "profiles"}  # one part named exactly: no query block
    assert doc["profiles"] == [p.id for p in profiles.list_profiles()]
    (device,) = doc["devices"]
    assert (device["id"], device["tpp"], device["tpp_dtype"]) == ("h100-sxm", 15832.0, "fp8_e4m3")
    assert set(device["classification"]) == set(doc["profiles"])
    assert device["derived"]["tpp"] == pytest.approx(15831, abs=0.5) and device["derived"]["units"] == 132
    assert cli.main(["specs", "h100-sxm", "--json", "--profile", "us-2026-01"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profiles"] == ["us-2026-01"] and doc["devices"][0]["classification"]["us-2026-01"]["short"] == \
        "case-by-case"


def test_specs_of_an_ambiguous_name_lists_the_candidates_in_a_table(capsys):
    assert cli.main(["specs", "H100", "--profile", "us-2026-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "3 parts match 'H100'; `bench specs ID` shows one in full."
    rows = [line.split()[0] for line in lines[3:6]]
    assert rows == ["h100-sxm", "h100-pcie", "h100-nvl"] and lines[6].startswith("TPP = dense peak TOPS")
    assert all(line.rstrip().endswith("case-by-case") for line in lines[3:6])


def test_specs_of_an_unknown_or_misspelt_part_or_profile_is_exit_2_with_one_line(capsys):
    known = ", ".join(s.id for s in DB.devices)
    assert cli.main(["specs", "no-such-gpu"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        f"bench specs: error: no device 'no-such-gpu' in the specification database; known: {known}\n")
    assert cli.main(["specs", "h10-sxm"]) == 2
    assert capsys.readouterr().err == (
        "bench specs: error: no device 'h10-sxm' in the specification database; did you mean h100-sxm, h200-sxm, "
        f"a100-sxm, a100-sxm-40gb? known: {known}\n")
    assert cli.main(["specs", "h100-sxm", "--profile", "nope"]) == 2
    profile_ids = ", ".join(p.id for p in profiles.list_profiles())
    assert capsys.readouterr().err == (
        f"bench specs: error: no profile 'nope'; known: {profile_ids} (or pass a file path)\n")


def test_specs_detail_shows_estimates_readings_and_what_would_change(capsys):
    assert cli.main(["specs", "ascend-910", "--profile", "us-2023-10"]) == 0
    out = capsys.readouterr().out
    assert "range 456–1,314 mm²" in out and "range 3.12–8.98" in out and "the conclusion depends on this value" in out
    assert cli.main(["specs", "mi355x", "--profile", "us-2026-01"]) == 0
    out = capsys.readouterr().out
    assert "TPP 60,397.8 (set by fp6" in out and "other reading: TPP 40,265.6" in out
    assert cli.main(["specs", "rtx-4090d", "--profile", "us-2023-10"]) == 0
    out = capsys.readouterr().out
    assert "[outside (Note 2 to 3A090)]" in out and "criteria of 3A090.a.2 also met; exempted by Note 2" in out
    assert cli.main(["specs", "b200", "--profile", "us-2026-01"]) == 0
    assert "sources conflict: 7.7 vs 8 TB/s; range 7,700–8,000 GB/s" in capsys.readouterr().out


def test_specs_table_marks_estimates_and_dependent_conclusions(capsys):
    assert cli.main(["specs", "--profile", "us-2023-10"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["ascend-910"].rstrip().endswith("3A090.a.2*") and " A " in rows["ascend-910"]
    assert " AR " in rows["mi355x"] and rows["h100-sxm"].rstrip().endswith("3A090.a.1, 3A090.a.2")
    assert cli.main(["specs", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ascend = next(d for d in doc["devices"] if d["id"] == "ascend-910")
    assert ascend["classification"]["us-2023-10"]["depends_on"] == ["die area"]
    assert ascend["die_area_range"] == [456.25, 1314.25]


def test_profiles_command_lists_and_shows(capsys):
    assert cli.main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert all(p in out for p in ("us-2022-10", "us-2023-10", "us-2024-12", "us-2026-01", "us-2026-01-tariff"))
    assert cli.main(["profiles", "show", "us-2026-01-tariff"]) == 0
    out = capsys.readouterr().out
    assert "TPP more than 14,000 (strict: exactly the limit does not meet it)" in out and "CSMS #67400472" in out
    assert cli.main(["profiles", "show", "us-2023-10", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    b2 = next(c for c in doc["classes"] if c["id"] == "3A090.b.2")
    assert b2["unless"] == ["3A090.a.1", "3A090.a.2"] and {c["edge"] for c in b2["criteria"]} == {"inclusive", "strict"}
    assert cli.main(["profiles", "show", "us-1999-01"]) == 2
    assert cli.main(["profiles", "show"]) == 2


# --- hostile declarations and profiles: a typed error, never a crash --------------------------------

HOSTILE = [None, [], {}, "x", 5, -1, float("nan"), float("inf"), True, [1], {"a": 1}, [[1]], "", 0, "y" * 10_000]
FULL_DEVICE = {
    "id": "mine", "name": "My", "vendor": "Me", "kind": "accelerator", "datacenter": True, "match": ["A.*"],
    "confidence": "low", "estimate": False, "notes": "n", "architecture": "cdna3",
    "peaks": [{"dtype": "bf16", "tops": 100, "source": "s", "unit": "matrix", "accumulate": "fp32"}],
    "memory": {"gib": 16, "bandwidth_gbps": 1000, "estimate": True, "range": [900, 1100], "basis": "b", "source": "s"},
    "die_area": {"mm2": 600, "estimate": True, "range": [500, 700], "basis": "b", "source": "s"},
    "interconnect": {"kind": "x", "bidirectional_gbps": 64, "source": "s"},
    "derive": {"units": 10, "clock_mhz": 1000, "source": "s"}}


def _paths(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _replaced(node, path, value):
    if not path:
        return value
    copy = json.loads(json.dumps(node))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def _mutations(document):
    return [(path, value) for path in _paths(document) for value in HOSTILE]


def test_every_field_of_a_declaration_replaced_by_hostile_values_gives_a_config_error():
    tried = 0
    for path, value in _mutations(FULL_DEVICE):
        tried += 1
        try:
            spec = specs.parse_device(_replaced(FULL_DEVICE, path, value), "hostile", {"s": "x"})
        except ConfigError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 600, (path, value)
            continue
        values = [spec.tpp, spec.performance_density_range, spec.tpp_readings()]
        assert all(v is not None for v in values[2:])
        profiles.sensitivity(spec, PD_PROFILE)
    assert tried > 600


PD_PROFILE = profiles.load_profile("us-2023-10")


def test_every_field_of_a_profile_replaced_by_hostile_values_gives_a_config_error():
    from bench.yamlfile import read_yaml
    document = json.loads(json.dumps(read_yaml(profiles.profile_files()[1]), default=str))
    for path, value in _mutations(document):
        try:
            profile = profiles.parse_profile(_replaced(document, path, value), "hostile.yaml")
        except ConfigError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 600, (path, value)
            continue
        assert profile.classify({"tpp": 5000, "performance_density": 3, "datacenter": False}).conforms in (True, False, None)


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfe binary", b"id: [", b"- just\n- a list\n", b"a: &x [1]\nb: *x\n"])
def test_bench_profiles_show_on_a_bad_file_is_exit_2_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert cli.main(["profiles", "show", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
