"""Fleet / lot aggregation: lot table, outliers beyond the spread, manifest reconciliation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from run_factory import synthetic_run, write_run

from bench.cli import main as cli
from bench.errors import ConfigError, UsageError
from bench.evidence import signing
from bench.lab import fleet
from bench.rules.verdict import check_run

SERIALS = ["1650123000001", "1650123000002", "1650123000003", "1650123000004"]


def make_lot(root: Path, speeds: list[float], serials: list[str], verdicts=None, key=None) -> list[Path]:
    """One folder per unit. verdicts[i]: "judged" stores bench.rules.verdict's real verdict in run.json, a string
    stores that (possibly forged) verdict, None none. `key`: sign every folder with it."""
    folders = []
    for i, (speed, serial) in enumerate(zip(speeds, serials)):
        wanted = (verdicts or [None] * len(speeds))[i]
        run = synthetic_run(f"{root.name}-run-{i}", speed=speed, serial=serial, hostname=f"node{i // 2:02d}",
                            index=i % 2, verdict=None if wanted == "judged" else wanted)
        if wanted == "judged":
            run["verdict"] = check_run(run).to_dict()
        folders.append(write_run(root / f"run-{i}", run))
        if key is not None:
            signing.sign_run(folders[-1], key.private_path)
    return folders


@pytest.fixture()
def lab_key(tmp_path) -> signing.KeyFiles:
    return signing.generate_keys(tmp_path / "keys" / "lab.key")


def judged_lot(root: Path, key, speeds=(1.0, 1.01, 0.99, 1.0), serials=SERIALS) -> list[Path]:
    return make_lot(root, list(speeds), list(serials), verdicts=["judged"] * len(speeds), key=key)


def write_manifest(path: Path, serials: list[str], **extra) -> Path:
    path.write_text(yaml.safe_dump({"lot": "LOT-7", "units": [{"serial": s} for s in serials], **extra}))
    return path


def test_lot_table_has_one_row_per_unit_and_lot_statistics(tmp_path):
    runs = make_lot(tmp_path, [1.0, 1.01, 0.99], SERIALS[:3])
    report = fleet.aggregate(runs, allow_unsigned=True)
    assert list(report.units["unit"]) == SERIALS[:3]
    assert {"effective_tpp", "dram_bandwidth_gbs", "tops_bf16", "tops_fp32"} <= set(report.metrics)
    tpp = report.units["effective_tpp"]
    assert report.lot_stats.loc["effective_tpp", "min"] == tpp.min()
    assert report.lot_stats.loc["effective_tpp", "median"] == pytest.approx(sorted(tpp)[1])
    assert report.lot_stats.loc["effective_tpp", "max"] == tpp.max()
    assert report.lot_stats.loc["dram_bandwidth_gbs", "n"] == 3
    assert report.outliers == [] and report.result == "UNDECIDED"  # no verdicts stored
    assert not report.units["outlier"].any()


def test_synthetic_outlier_is_flagged(tmp_path):
    runs = make_lot(tmp_path, [1.0, 1.01, 0.99, 0.90], SERIALS)
    report = fleet.aggregate(runs, allow_unsigned=True)
    assert not report.ok and report.result == "NOT OK"
    flagged = report.units.loc[report.units["outlier"], "unit"].tolist()
    assert flagged == [SERIALS[3]]
    assert any(o.startswith(f"{SERIALS[3]}: Effective TPP -") and "beyond ±5%" in o for o in report.outliers)
    # a looser spread lets the same unit through (undecided: no verdicts in these folders)
    assert fleet.aggregate(runs, spread=0.15, allow_unsigned=True).outliers == []


def test_high_side_outlier_is_flagged_too(tmp_path):
    """Faster than the lot by more than the spread: possibly a relabelled part."""
    report = fleet.aggregate(make_lot(tmp_path, [1.0, 1.0, 1.0, 1.2], SERIALS))
    assert report.units.loc[report.units["outlier"], "unit"].tolist() == [SERIALS[3]]


def test_manifest_reconciliation_flags_missing_unexpected_and_duplicate(tmp_path):
    runs = make_lot(tmp_path / "lot", [1.0, 1.0, 1.0], [SERIALS[0], SERIALS[1], SERIALS[1]])
    runs += make_lot(tmp_path / "stray", [1.0], ["9999999999999"])
    manifest = fleet.load_manifest(write_manifest(tmp_path / "lot.yaml", SERIALS[:3]))
    report = fleet.aggregate(runs, manifest=manifest)
    assert report.missing == [SERIALS[2]]
    assert report.duplicates == [f"{SERIALS[1]}: measured 2 times"]
    assert report.unexpected == ["9999999999999: not in manifest lot.yaml"]
    assert not report.ok
    text = fleet.render_markdown(report)
    assert f"- Missing serials: {SERIALS[2]}" in text and "Lot result: NOT OK" in text


def test_full_lot_matching_manifest_is_ok(tmp_path, capsys, lab_key):
    runs = judged_lot(tmp_path / "lot", lab_key)
    manifest = write_manifest(tmp_path / "lot.yaml", SERIALS, device="H100")
    assert cli(["fleet", *map(str, runs), "--manifest", str(manifest), "--pubkey", str(lab_key.public_path)]) == 0
    out = capsys.readouterr().out
    assert "Lot LOT-7: 4 units expected, 4 measured." in out and "Lot result: OK" in out
    for serial in SERIALS:
        assert f"| {serial} |" in out
    assert "| Unit | Device | Verdict | Evidence | Effective TPP ± U |" in out
    assert "| verified |" in out


def test_verdict_edited_to_pass_makes_the_lot_not_ok(tmp_path, capsys, lab_key):
    """The forged-lot case of issue 9: a failing unit's verdict.json edited to "pass" after signing."""
    runs = judged_lot(tmp_path / "lot", lab_key, speeds=(1.0, 1.0, 3.0))
    verdict = json.loads((runs[2] / "run.json").read_text())["verdict"]
    assert verdict["verdict"] == "fail"
    run = json.loads((runs[2] / "run.json").read_text())
    run.pop("verdict")
    (runs[2] / "run.json").write_text(json.dumps(run))
    (runs[2] / "verdict.json").write_text(json.dumps({**verdict, "verdict": "pass"}))
    code = cli(["fleet", *map(str, runs), "--pubkey", str(lab_key.public_path)])
    out = capsys.readouterr().out
    assert code == 1 and "Lot result: NOT OK" in out
    assert f"- Evidence: {SERIALS[2]}: evidence does not hold: file run.json: digest differs" in out


def test_verdict_forged_and_resigned_by_the_lab_key_still_fails_recomputation(tmp_path, lab_key):
    runs = judged_lot(tmp_path / "lot", lab_key, speeds=(1.0, 1.0, 3.0))
    run = json.loads((runs[2] / "run.json").read_text())
    run["verdict"]["verdict"] = "pass"
    (runs[2] / "run.json").write_text(json.dumps(run))
    signing.sign_run(runs[2], lab_key.private_path)  # even an insider re-signing cannot make it pass
    report = fleet.aggregate(runs, public_keys=[lab_key.public_path])
    assert report.result == "NOT OK" and report.exit_code == 1
    assert any("verdict: stored 'pass', recomputed 'fail'" in e for e in report.evidence), report.evidence


def test_unit_without_verdict_signature_or_serial_is_undecided(tmp_path, capsys, lab_key):
    runs = judged_lot(tmp_path / "lot", lab_key, speeds=(1.0, 1.0, 1.0), serials=SERIALS[:3])
    runs.append(write_run(tmp_path / "bare", synthetic_run("bare")))
    code = cli(["fleet", *map(str, runs), "--pubkey", str(lab_key.public_path)])
    out = capsys.readouterr().out
    assert code == 3 and "Lot result: UNDECIDED" in out
    bare = "NVIDIA H100 80GB HBM3 @ node01 #0 (no serial)"
    assert f"- Undecided: {bare}: unsigned (sign it, or pass --allow-unsigned)" in out
    assert f"- Undecided: {bare}: no verdict (run `bench check`, or pass --profile)" in out
    assert f"- No serial: {bare}: no serial or UUID recorded" in out


def test_undecided_and_failing_units_are_kept_apart(tmp_path, lab_key):
    runs = judged_lot(tmp_path / "lot", lab_key, speeds=(1.0, 1.0, 1.0, 0.5))  # 0.5: implausibly slow
    report = fleet.aggregate(runs, public_keys=[lab_key.public_path], spread=0.9)
    assert report.failing == [] and report.undecided == [f"{SERIALS[3]}: verdict inconclusive"]
    assert report.exit_code == 3
    runs += judged_lot(tmp_path / "more", lab_key, speeds=(3.0,), serials=["1650123000009"])
    report = fleet.aggregate(runs, public_keys=[lab_key.public_path], spread=0.9)
    assert report.failing == ["1650123000009: verdict fail"] and report.exit_code == 1


def test_without_pubkey_a_signed_lot_is_undecided_and_allow_unsigned_says_so_first(tmp_path, capsys, lab_key):
    runs = judged_lot(tmp_path / "lot", lab_key)
    assert cli(["fleet", *map(str, runs)]) == 3
    assert "signer not authenticated (pass --pubkey" in capsys.readouterr().out
    assert cli(["fleet", *map(str, runs), "--allow-unsigned"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("**UNSIGNED EVIDENCE ACCEPTED (--allow-unsigned)")
    assert "Lot result: OK" in out


def test_two_units_are_too_few_to_judge_spread(tmp_path, capsys, lab_key):
    runs = judged_lot(tmp_path / "lot", lab_key, speeds=(1.0, 1.3), serials=SERIALS[:2])
    report = fleet.aggregate(runs, public_keys=[lab_key.public_path], spread=0.05)
    assert report.outliers == [] and report.spread_note.startswith("too few units to judge spread")
    assert "Spread: too few units to judge spread" in fleet.render_markdown(report)


def test_spread_within_a_units_own_uncertainty_is_not_an_outlier(tmp_path):
    runs = make_lot(tmp_path, [1.0, 1.01, 0.99, 0.9], SERIALS)
    report = fleet.aggregate(runs, allow_unsigned=True)
    assert report.outliers  # 10 % below with a tight U: an outlier
    report.units["U_effective_tpp"] = report.units["effective_tpp"] * 0.2  # now each unit is uncertain by 20 %
    report.outliers.clear()
    fleet._flag_deviations(report)
    assert not any("Effective TPP" in o for o in report.outliers)
    assert report.units["z_effective_tpp"].abs().max() > 3  # the robust z still shows how far it lies


def test_fleet_command_shows_outlier_and_missing_serial(tmp_path, capsys):
    runs = make_lot(tmp_path, [1.0, 1.01, 0.80], SERIALS[:3])
    manifest = write_manifest(tmp_path / "lot.yaml", SERIALS)
    assert cli(["fleet", *map(str, runs), "--manifest", str(manifest)]) == 1
    out = capsys.readouterr().out
    assert "## Lot statistics" in out and "| Effective TPP |" in out
    assert f"| {SERIALS[2]} |" in out and "OUTLIER" in out
    assert f"- Missing serials: {SERIALS[3]}" in out

    assert cli(["fleet", *map(str, runs), "--manifest", str(manifest), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["missing"] == [SERIALS[3]] and not data["ok"]
    assert [u["unit"] for u in data["units"] if u["outlier"]] == [SERIALS[2]]
    assert data["lot_stats"]["effective_tpp"]["n"] == 3


def test_failing_verdict_and_device_mismatch_are_flagged(tmp_path):
    runs = make_lot(tmp_path, [1.0, 1.0], SERIALS[:2], verdicts=["pass", "fail"])
    manifest = fleet.load_manifest(write_manifest(tmp_path / "lot.yaml", SERIALS[:2], device="MI300X"))
    report = fleet.aggregate(runs, manifest=manifest)
    assert report.failing == [f"{SERIALS[1]}: verdict fail"]
    assert len(report.device_mismatch) == 2 and not report.ok


def test_units_without_serial_and_cpu_stand_ins_are_labelled(tmp_path):
    runs = [write_run(tmp_path / f"cpu{i}", synthetic_run(f"cpu-{i}", backend="cpu", device_name="Host CPU",
                                                          hostname="node01", index=i)) for i in range(2)]
    report = fleet.aggregate(runs)
    assert list(report.units["unit"]) == ["Host CPU @ node01 #0 (no serial)", "Host CPU @ node01 #1 (no serial)"]
    assert any(label.startswith("CPU stand-in: 2 unit(s)") for label in report.labels)
    assert any("not signed-and-verified: unsigned" in label for label in report.labels)
    assert report.result == "UNDECIDED"
    assert report.duplicates == []  # unidentified units are never counted as duplicates of each other
    text = fleet.render_markdown(report)
    assert "**CPU stand-in: 2 unit(s)" in text and "stand-in" in text


def test_signature_status_per_unit(tmp_path):
    runs = make_lot(tmp_path, [1.0, 1.0], SERIALS[:2])
    key = signing.generate_keys(tmp_path / "lab.key")
    signing.sign_run(runs[0], key.private_path)
    assert list(fleet.aggregate(runs).units["signature"]) == ["signed (signer not authenticated)", "unsigned"]
    report = fleet.aggregate(runs, public_keys=[key.public_path])
    assert list(report.units["signature"]) == ["signed (verified)", "unsigned"]
    assert list(report.units["evidence"]) == ["verified", "unsigned"]


def test_multi_unit_run_gives_one_row_per_unit(tmp_path):
    first, second = synthetic_run(serial=SERIALS[0]), synthetic_run(serial=SERIALS[1], speed=1.02)
    units = [{**{k: part[k] for k in ("device", "identity", "measurements", "skips", "summary")}, "unit": label,
              "status": "complete", "run_dir": f"units/{label}", "device_spec": "cuda:0", "stand_in": False,
              "label_note": None, "exit_code": 0} for label, part in (("gpu0", first), ("gpu1", second))]
    run = {"schema_version": 1, "method_version": "1.0", "run_id": "multi", "status": "complete",
           "started_at": None, "kind": "multi-unit", "mode": "node", "measurements": [], "skips": [],
           "units": units}
    report = fleet.aggregate([write_run_json(tmp_path / "multi", run)])
    assert list(report.units["unit"]) == SERIALS[:2]
    assert report.units["effective_tpp"].notna().all()


def write_run_json(folder: Path, run: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run))
    return folder


def test_bad_manifest_and_bad_spread_are_input_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: [{model: x}]\n")
    with pytest.raises(ConfigError, match=r"units\[0\] needs a serial or uuid"):
        fleet.load_manifest(bad)
    runs = make_lot(tmp_path, [1.0], SERIALS[:1])
    with pytest.raises(UsageError, match="spread"):
        fleet.aggregate(runs, spread=5)
    assert cli(["fleet", str(runs[0]), "--manifest", str(bad)]) == 2
    assert cli(["fleet", str(tmp_path / "missing")]) == 2


def test_the_same_run_given_twice_is_a_duplicate(tmp_path):
    runs = make_lot(tmp_path, [1.0], SERIALS[:1])
    report = fleet.aggregate(runs + runs)
    assert f"{SERIALS[0]}: measured 2 times" in report.duplicates
    assert any(d.startswith(f"run {tmp_path.name}-run-0 unit 0: given 2 times") for d in report.duplicates)
    assert not report.ok
