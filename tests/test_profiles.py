"""Threshold profiles: every classification case regulation.md supports, plus validation."""

import pytest

from bench import profiles, specs
from bench.errors import ConfigError, UsageError

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


def test_a800_free_in_2022_but_a1_in_2023():
    assert classify("a800", "us-2022-10").conforms is True
    assert classify("a100-sxm", "us-2022-10").conforms is False
    assert "3A090.a.1" in classify("a800", "us-2023-10").matched


def test_l40_is_3a090_b_and_l4_is_a2():
    assert "3A090.b.2" in classify("l40", "us-2023-10").matched
    assert classify("l4", "us-2023-10").matched == ["3A090.a.2"]


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
