"""Threshold profiles: every classification case regulation.md supports, every criterion at its
edge (generated from the profile data and hand-written), readable classification, validation."""

import math
import operator

import pytest

from bench.errors import ConfigError, UsageError
from bench.rules import profiles, specs, verdict
from bench.yamlfile import read_yaml

DB = specs.load_database()


def classify(device_id, profile_id):
    return profiles.classify_spec(DB.get(device_id), profiles.load_profile(profile_id))


def test_all_shipped_profiles_load():
    ids = {p.id for p in profiles.list_profiles()}
    assert {"us-2022-10", "us-2023-10", "us-2024-12", "us-2026-01", "us-2026-01-tariff"} <= ids
    for profile in profiles.list_profiles():
        assert profile.citation["document"] and profile.effective and profile.notes


def test_h20_outside_3a090_under_2023_rule():
    spec = DB.get("h20")
    assert spec.tpp < 2400 and spec.performance_density < 3.2
    result = classify("h20", "us-2023-10")
    assert result.conforms is True and result.matched == []


def test_h200_is_3a090_a1_and_inside_2026_limits():
    assert "3A090.a.1" in classify("h200-sxm", "us-2023-10").matched
    assert classify("h200-sxm", "us-2026-01").conforms is True
    assert classify("h200-sxm", "us-2026-01-tariff").matched == ["band-1"]


def test_mi325x_inside_2026_limits_by_about_81():
    assert 21000 - DB.get("mi325x").tpp == pytest.approx(81, abs=1)
    assert classify("mi325x", "us-2026-01").conforms is True
    assert classify("mi325x", "us-2026-01-tariff").matched == ["band-2"]


@pytest.mark.parametrize("device_id", ["b200", "mi355x", "gb200", "b300"])
def test_blackwell_and_mi355x_outside_2026_limits(device_id):
    assert classify(device_id, "us-2026-01").conforms is False


def test_l20_just_under_3a090_b2():
    spec = DB.get("l20")
    assert 3.1 < spec.performance_density < 3.2 and spec.tpp >= 1600
    assert classify("l20", "us-2023-10").conforms is True
    bumped = profiles.load_profile("us-2023-10").classify({**spec.profile_values(), "performance_density": 3.2})
    assert "3A090.b.2" in bumped.matched


def test_rtx_4090_is_3a090_a1_despite_not_datacenter():
    assert DB.get("rtx-4090").datacenter is False
    result = classify("rtx-4090", "us-2023-10")
    assert "3A090.a.1" in result.matched and not result.exempted_by and result.conforms is False


def test_rtx_4090d_note_2_carve_out():
    result = classify("rtx-4090d", "us-2023-10")
    assert result.exempted_by == ["Note 2 to 3A090"] and result.conforms is True
    # Note 2 says 3A090 "does not apply": nothing is matched, though the a.2 criteria are met
    assert result.matched == [] and result.criteria_met == ["3A090.a.2"] and result.short() == "outside (Note 2 to 3A090)"


def test_a800_free_in_2022_but_a1_in_2023():
    assert classify("a800", "us-2022-10").conforms is True
    assert classify("a100-sxm", "us-2022-10").conforms is False
    assert "3A090.a.1" in classify("a800", "us-2023-10").matched


def test_l40_is_3a090_b_and_l4_is_a2():
    assert "3A090.b.2" in classify("l40", "us-2023-10").matched
    assert classify("l4", "us-2023-10").matched == ["3A090.a.2"]


@pytest.mark.parametrize("profile_id", ["us-2023-10", "us-2024-12"])
def test_an_item_meeting_3a090a_is_reported_as_a_only(profile_id):
    """MI250X meets a.1 (TPP 6,128) and the b.2 criteria (PD ~3.9): it is classified 3A090.a.1."""
    result = classify("mi250x", profile_id)
    assert result.matched == ["3A090.a.1"] and "3A090.b.2" in result.criteria_met
    assert not any(cid.startswith("3A090.b") for cid in classify("h100-sxm", profile_id).matched)
    assert classify("mi210", profile_id).matched == ["3A090.b.1", "3A090.b.2"]  # no .a: .b stands


def test_3a090c_never_applies_to_accelerators():
    profile = profiles.load_profile("us-2024-12")
    assert "3A090.c" not in classify("h200-sxm", "us-2024-12").matched
    assert profile.classify({"hbm_bandwidth_density": 3.0}, item="hbm_stack").matched == ["3A090.c"]


def test_unknown_value_is_undetermined_not_conforming():
    result = profiles.load_profile("us-2022-10").classify({"tpp": 9000, "bidirectional_io_gbps": None})
    assert result.conforms is None and result.undetermined == ["3A090.a"]


def test_region_outcomes_treat_measurement_as_lower_bound():
    profile = profiles.load_profile("us-2026-01")
    # true TPP at least 22,000: beyond the limit whatever the bandwidth
    assert profiles.region_outcomes(profile, {"tpp": (22000, float("inf")), "dram_bandwidth_gbps": (0, float("inf"))},
                                    {}, None) == {False}
    # at least 15,000: could be either side
    assert profiles.region_outcomes(profile, {"tpp": (15000, float("inf")), "dram_bandwidth_gbps": (4000, 4000)},
                                    {}, None) == {True, False}


# --- every criterion at its edge ----------------------------------------------------------------

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}  # independent of the code


def _inside_point(leaves, metric):
    """A value of `metric` that satisfies every leaf on it in `leaves`."""
    lows = [leaf.value for leaf in leaves if leaf.metric == metric and leaf.op in (">=", ">")]
    highs = [leaf.value for leaf in leaves if leaf.metric == metric and leaf.op in ("<=", "<")]
    low, high = (max(lows) if lows else None), (min(highs) if highs else None)
    if low is not None and high is not None:
        return (low + high) / 2
    return low * 1.5 + 1 if low is not None else high / 2


def _edge_cases():
    for profile in profiles.list_profiles():
        for rule in (*profile.classes, *profile.exemptions):
            if rule.when.join != "all":
                continue
            leaves = rule.when.leaves()
            for index, leaf in enumerate(leaves):
                if leaf.metric:
                    yield pytest.param(profile.id, rule.id, index, id=f"{profile.id}:{rule.id}:{leaf.describe()}")


@pytest.mark.parametrize("profile_id, rule_id, index", list(_edge_cases()))
def test_every_criterion_at_below_and_above_its_limit(profile_id, rule_id, index):
    profile = profiles.load_profile(profile_id)
    rule = next(r for r in (*profile.classes, *profile.exemptions) if r.id == rule_id)
    leaves = rule.when.leaves()
    leaf = leaves[index]
    values = {other.metric: _inside_point(leaves, other.metric) for other in leaves if other.metric}
    values.update({other.flag: other.equals for other in leaves if other.flag})
    assert rule.when.evaluate(values) is True, "the synthetic part inside the class must be inside"
    below, above = math.nextafter(leaf.value, -math.inf), math.nextafter(leaf.value, math.inf)
    for point in (below, leaf.value, above):
        probe = {**values, leaf.metric: point}
        expected_leaf = OPS[leaf.op](point, leaf.value)
        assert leaf.evaluate(probe) is expected_leaf
        expected_rule = all(OPS[o.op](probe[o.metric], o.value) if o.metric else probe[o.flag] == o.equals
                            for o in leaves)
        assert rule.when.evaluate(probe) is expected_rule
    assert leaf.evaluate({**values, leaf.metric: leaf.value}) is (leaf.edge == "inclusive")
    assert f"({leaf.edge})" in leaf.describe() and leaf.edge in leaf.explain()


def test_every_shipped_condition_states_its_edge_in_the_data():
    for file in profiles.profile_files():
        data = read_yaml(file)
        for rule in (data.get("classes") or []) + (data.get("exemptions") or []):
            for leaf in rule.get("all") or rule.get("any"):
                if "metric" in leaf:
                    assert leaf["edge"] == ("strict" if leaf["op"] in (">", "<") else "inclusive"), (file.name, leaf)


EDGE_EXPECTATIONS = [  # (profile, values, conforms, matched) written out by hand from the rule texts
    # tariff bands: every edge strict (CBP CSMS #67400472: "greater than ... less than ...")
    ("us-2026-01-tariff", {"tpp": 14000, "dram_bandwidth_gbps": 4800}, True, []),
    ("us-2026-01-tariff", {"tpp": 14000.01, "dram_bandwidth_gbps": 4800}, False, ["band-1"]),
    ("us-2026-01-tariff", {"tpp": 17500, "dram_bandwidth_gbps": 4800}, True, []),
    ("us-2026-01-tariff", {"tpp": 17499.99, "dram_bandwidth_gbps": 4800}, False, ["band-1"]),
    ("us-2026-01-tariff", {"tpp": 15832, "dram_bandwidth_gbps": 5000}, True, []),
    ("us-2026-01-tariff", {"tpp": 15832, "dram_bandwidth_gbps": 4999.99}, False, ["band-1"]),
    ("us-2026-01-tariff", {"tpp": 15832, "dram_bandwidth_gbps": 4500}, True, []),
    ("us-2026-01-tariff", {"tpp": 15832, "dram_bandwidth_gbps": 4500.01}, False, ["band-1"]),
    ("us-2026-01-tariff", {"tpp": 20800, "dram_bandwidth_gbps": 6000}, True, []),
    ("us-2026-01-tariff", {"tpp": 20800.01, "dram_bandwidth_gbps": 6000}, False, ["band-2"]),
    ("us-2026-01-tariff", {"tpp": 21100, "dram_bandwidth_gbps": 6000}, True, []),
    ("us-2026-01-tariff", {"tpp": 20919, "dram_bandwidth_gbps": 5800}, True, []),
    ("us-2026-01-tariff", {"tpp": 20919, "dram_bandwidth_gbps": 6200}, True, []),
    ("us-2026-01-tariff", {"tpp": 20919, "dram_bandwidth_gbps": 6199.99}, False, ["band-2"]),
    # case-by-case: "less than 21,000 ... less than 6,500 GB/s"
    ("us-2026-01", {"tpp": 21000, "dram_bandwidth_gbps": 4800}, False, []),
    ("us-2026-01", {"tpp": 20999.99, "dram_bandwidth_gbps": 6499.99}, True, ["case-by-case"]),
    ("us-2026-01", {"tpp": 15832, "dram_bandwidth_gbps": 6500}, False, []),
    # 2022: "600 Gbyte/s or more" and "4800 or more"
    ("us-2022-10", {"tpp": 4800, "bidirectional_io_gbps": 600}, False, ["3A090.a"]),
    ("us-2022-10", {"tpp": 4800, "bidirectional_io_gbps": 599.99}, True, []),
    ("us-2022-10", {"tpp": 4799.99, "bidirectional_io_gbps": 900}, True, []),
    # 2023: a.1 4800 or more; a.2 1600 / 5.92 or more; b.1 2400 <= TPP < 4800, 1.6 <= PD < 5.92; b.2 1600, 3.2 <= PD < 5.92
    ("us-2023-10", {"tpp": 4800, "performance_density": 4, "datacenter": True}, False, ["3A090.a.1"]),
    ("us-2023-10", {"tpp": 4799.99, "performance_density": 4, "datacenter": True}, False, ["3A090.b.1", "3A090.b.2"]),
    ("us-2023-10", {"tpp": 1600, "performance_density": 5.92, "datacenter": True}, False, ["3A090.a.2"]),
    ("us-2023-10", {"tpp": 1600, "performance_density": 5.919, "datacenter": True}, False, ["3A090.b.2"]),
    ("us-2023-10", {"tpp": 1599.99, "performance_density": 9, "datacenter": True}, True, []),
    ("us-2023-10", {"tpp": 2400, "performance_density": 1.6, "datacenter": True}, False, ["3A090.b.1"]),
    ("us-2023-10", {"tpp": 2399.99, "performance_density": 1.6, "datacenter": True}, True, []),
    ("us-2023-10", {"tpp": 2400, "performance_density": 1.599, "datacenter": True}, True, []),
    ("us-2023-10", {"tpp": 1600, "performance_density": 3.2, "datacenter": True}, False, ["3A090.b.2"]),
    ("us-2023-10", {"tpp": 1600, "performance_density": 3.199, "datacenter": True}, True, []),
    # Note 2: not datacenter AND TPP < 4800 (strict): exempt below, not at 4800
    ("us-2023-10", {"tpp": 4799.99, "performance_density": 8, "datacenter": False}, True, []),
    ("us-2023-10", {"tpp": 4800, "performance_density": 8, "datacenter": False}, False, ["3A090.a.1", "3A090.a.2"]),
    # 3A090.c: "greater than 2 gigabytes per second per square millimeter" (an HBM stack)
    ("us-2024-12", {"hbm_bandwidth_density": 2}, True, []),
    ("us-2024-12", {"hbm_bandwidth_density": 2.0001}, False, ["3A090.c"]),
]


@pytest.mark.parametrize("profile_id, values, conforms, matched", EDGE_EXPECTATIONS)
def test_hand_written_edge_expectations(profile_id, values, conforms, matched):
    item = "hbm_stack" if "hbm_bandwidth_density" in values else "accelerator"
    result = profiles.load_profile(profile_id).classify(values, item)
    assert (result.conforms, result.matched) == (conforms, matched)


def test_tariff_profile_cites_the_proclamation_and_csms_and_states_scope():
    profile = profiles.load_profile("us-2026-01-tariff")
    citation = " ".join(profile.citation.values())
    assert "CSMS #67400472" in citation and "Adjusting Imports of Semiconductors" in citation
    assert profile.citation["url"].startswith("https://content.govdelivery.com/")
    notes = " ".join(profile.notes)
    assert all(heading in notes for heading in ("8471.50", "8471.80", "8473.30", "9903.79.02"))
    assert "xempt" in notes and "open intervals" in notes
    assert all(rule.source.startswith("CSMS #67400472") for rule in profile.classes)


def test_total_dram_bandwidth_reading_is_stated_where_used():
    notes = " ".join(profiles.load_profile("us-2026-01").notes)
    assert "(dd)(1)" in notes and "not retrieved" in notes and "datasheet reading" in notes


# --- what an estimate could change -----------------------------------------------------------------

def test_ascend_910_pd_verdict_depends_on_its_unpublished_io_die():
    spec, profile = DB.get("ascend-910"), profiles.load_profile("us-2023-10")
    factor = next(f for f in profiles.sensitivity(spec, profile) if f["input"] == "die area")
    assert factor["changes"]
    first, second = factor["segments"][:2]
    assert first["classification"] == "3A090.a.2" and second["classification"] == "3A090.b.1, 3A090.b.2"
    assert first["to"] == pytest.approx(4096 / 5.92, abs=0.01)  # a.2 holds up to ~691.9 mm² (audit D.2)
    assert profiles.conclusion_depends_on(spec, profile) == []  # controlled either way
    assert any("depends on this value" in note for note in profiles.declared_notes(spec, profile))


SYNTHETIC = {"id": "near-b2", "name": "Near b.2", "vendor": "Test",
             "peaks": [{"dtype": "fp8_e4m3", "tops": 240, "source": "s"}],  # TPP 1,920
             "memory": {"gib": 48, "bandwidth_gbps": 864, "source": "s"},
             "die_area": {"mm2": 640, "estimate": True, "range": [560, 700], "source": "s"}}


def test_estimated_area_across_a_line_makes_the_declared_check_inconclusive():
    spec = specs.parse_device(SYNTHETIC, "synthetic", {"s": "test"})
    profile = profiles.load_profile("us-2023-10")
    assert profiles.classify_spec(spec, profile).conforms is True  # PD 3.0 at 640 mm²
    depends = profiles.conclusion_depends_on(spec, profile)
    assert depends and "3A090.b.2" in depends[0]  # PD 3.43 at 560 mm² is inside b.2
    check = verdict.check_declared(profile, spec, {}, None, "guarded")
    assert check.outcome == verdict.INCONCLUSIVE and "estimated value" in check.summary
    narrow = specs.parse_device({**SYNTHETIC, "die_area": {"mm2": 640, "estimate": True, "range": [610, 700],
                                                           "source": "s"}}, "synthetic", {"s": "test"})
    assert verdict.check_declared(profile, narrow, {}, None, "guarded").outcome == verdict.PASS


def test_alternative_tpp_readings_shown_with_the_one_used():
    for device_id, used, other in [("mi355x", 60397.8, 40265.6), ("l20", 1913.6, 1912), ("l2", 1545.6, 1544), ("b100", 28800, 28000)]:
        readings = DB.get(device_id).tpp_readings()
        assert readings[0]["used"] and readings[0]["tpp"] == pytest.approx(used)
        assert not readings[1]["used"] and readings[1]["tpp"] == pytest.approx(other)
    assert len(DB.get("h100-sxm").tpp_readings()) == 1
    notes = profiles.declared_notes(DB.get("mi355x"), profiles.load_profile("us-2026-01"))
    assert any("60,398" in n and "40,266" in n and "used" in n for n in notes)


PROFILE = """id: mine
title: My profile
citation: {document: "99 FR 1"}
effective: 2030-01-01
conforms_when: outside
classes:
  - id: big
    all:
      - {metric: tpp, op: ">=", value: 1000, unit: TPP}
"""


def test_user_profile_by_path_and_env(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text(PROFILE)
    assert profiles.load_profile(str(path)).conforms({"tpp": 500}) is True
    monkeypatch.setenv(profiles.PROFILE_ENV, str(tmp_path))
    assert profiles.load_profile("mine").conforms({"tpp": 1500}) is False


@pytest.mark.parametrize("broken, message", [
    (PROFILE.replace("metric: tpp", "metric: tops"), "unknown metric 'tops'"),
    (PROFILE.replace('op: ">="', 'op: "=>"'), "unknown comparison"),
    (PROFILE.replace("unit: TPP", "unit: GB/s"), "unit"),
    (PROFILE.replace("value: 1000", "value: lots"), "expected a number"),
    (PROFILE.replace("value: 1000", "value: .nan"), "finite positive"),
    (PROFILE.replace("value: 1000", "value: .inf"), "finite positive"),
    (PROFILE.replace("value: 1000", "value: 0"), "finite positive"),
    (PROFILE.replace("value: 1000", "value: -5"), "finite positive"),
    (PROFILE.replace("unit: TPP}", "unit: TPP, edge: strict}"), "edge: says strict"),
    (PROFILE.replace("unit: TPP}", "unit: TPP, edge: sharp}"), "edge"),
    (PROFILE.replace("  - id: big\n", "  - id: big\n    unless: [nope]\n"), "not another class"),
    (PROFILE.replace("id: mine", "id: [1, 2]"), "id"),
    (PROFILE.replace("conforms_when: outside", "conforms_when: maybe"), "conforms_when"),
    (PROFILE.replace('citation: {document: "99 FR 1"}\n', ""), "citation"),
    (PROFILE.replace("effective: 2030-01-01", "effective: soon"), "effective"),
    (PROFILE.replace("    all:", "    every:"), "unknown key"),
    (PROFILE + "colour: red\n", "unknown key"),
    ("id: [", "malformed YAML"),
])
def test_malformed_profile_is_one_config_error_naming_file(tmp_path, broken, message):
    path = tmp_path / "bad.yaml"
    path.write_text(broken)
    with pytest.raises(ConfigError, match=message) as info:
        profiles.load_profile(str(path))
    assert "bad.yaml" in str(info.value)


def test_unknown_profile_name_lists_known():
    with pytest.raises(UsageError, match="us-2023-10"):
        profiles.load_profile("us-1999-01")


def test_nan_limit_cannot_let_an_h100_pass(tmp_path):
    path = tmp_path / "nan.yaml"
    path.write_text(PROFILE.replace("value: 1000", "value: .nan"))
    with pytest.raises(ConfigError, match="finite positive"):
        profiles.load_profile(str(path))


def test_hbm_stack_memory_bandwidth_density_and_its_area_range():
    """3A090.c (89 FR 96790): a discrete HBM stack with > 2 GB/s/mm² of package; PD's analogue."""
    stack = {"id": "hbm3-stack", "name": "HBM3 stack", "vendor": "Test", "kind": "hbm_stack",
             "memory": {"gib": 24, "bandwidth_gbps": 819, "source": "s"},
             "die_area": {"mm2": 121, "estimate": True, "range": [100, 500], "source": "s"}}
    spec = specs.parse_device(stack, "synthetic", {"s": "test"})
    profile = profiles.load_profile("us-2024-12")
    assert spec.hbm_bandwidth_density == pytest.approx(819 / 121)
    assert profiles.classify_spec(spec, profile).matched == ["3A090.c"]
    factor = profiles.sensitivity(spec, profile)[0]
    assert factor["changes"] and factor["segments"][0]["to"] == pytest.approx(819 / 2)  # density 2 at 409.5 mm²
    assert profiles.conclusion_depends_on(spec, profile)
    assert profiles.classify_spec(DB.get("h200-sxm"), profile).conforms is False  # a.1; c never for accelerators
    assert "3A090.c" not in profiles.classify_spec(DB.get("h200-sxm"), profile).criteria_met
