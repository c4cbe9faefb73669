"""Signed, tamper-evident run folders: every tampering case must make `bench verify` fail by name."""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
from pathlib import Path

import pytest
from run_factory import copy_run, synthetic_run, write_run

from bench.cli import main as cli
from bench.errors import ConfigError, ResultsError, UsageError
from bench.evidence import signing
from bench.evidence.recompute import recompute, recompute_run
from bench.rules.verdict import check_run, save_verdict

# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def template_run(tmp_path_factory, real_quick_run) -> Path:
    """One run folder per session: the session's real quick CPU run (conftest.py), plus operator notes."""
    folder = copy_run(real_quick_run, tmp_path_factory.mktemp("template") / "real")
    (folder / "notes").mkdir(exist_ok=True)
    (folder / "notes" / "operator.txt").write_text("bench 3, rack B\n")
    return folder


@pytest.fixture()
def keys(tmp_path) -> signing.KeyFiles:
    (tmp_path / "keys").mkdir()
    return signing.generate_keys(tmp_path / "keys" / "lab.key")


@pytest.fixture()
def run_dir(tmp_path, template_run) -> Path:
    return Path(shutil.copytree(template_run, tmp_path / "run"))


@pytest.fixture()
def signed_run(run_dir, keys) -> Path:
    signing.sign_run(run_dir, keys.private_path)
    return run_dir


DATA_FILE = "measurements.csv"  # every real run writes it beside run.json


def edit_run_json(folder: Path, change) -> None:
    path = folder / "run.json"
    run = json.loads(path.read_text())
    change(run)
    path.write_text(json.dumps(run, indent=2) + "\n")


# --- the DSSE encoding ---------------------------------------------------------------------

def test_pae_matches_dsse_spec_example():
    assert signing.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


# --- round trip ----------------------------------------------------------------------------

def test_sign_then_verify_round_trip(signed_run, keys):
    envelope = json.loads((signed_run / signing.SIGNATURE_FILE).read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == signing.PREDICATE_TYPE
    names = {s["name"] for s in statement["subject"]}
    assert {"run.json", "notes/operator.txt"} <= names and signing.SIGNATURE_FILE not in names
    assert envelope["signatures"][0]["keyid"] == keys.key_id

    result = signing.verify_run(signed_run, keys.public_path)
    assert result.ok, result.findings + result.recompute_findings
    assert result.signer_authenticated and result.status == signing.STATUS_VERIFIED
    assert result.files_checked == len(names)
    assert cli(["verify", str(signed_run), "--pubkey", str(keys.public_path)]) == 0


def test_verify_without_pubkey_is_not_ok_unless_the_user_accepts_it(signed_run, capsys):
    result = signing.verify_run(signed_run)
    assert result.integrity_ok and not result.ok and not result.signer_authenticated
    assert result.status == signing.STATUS_UNAUTHENTICATED
    assert "UNAUTHENTICATED" in result.notes[0]
    capsys.readouterr()
    assert cli(["verify", str(signed_run)]) == 1
    assert "VERIFICATION FAILED" in capsys.readouterr().out
    assert cli(["verify", str(signed_run), "--allow-unauthenticated"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("SIGNER NOT AUTHENTICATED")


def test_resigning_replaces_the_envelope(signed_run, keys):
    signing.sign_run(signed_run, keys.private_path)
    assert signing.verify_run(signed_run, keys.public_path).ok
    assert [p.name for p in signed_run.iterdir() if p.name.startswith("signature")] == [signing.SIGNATURE_FILE]


# --- tampering: each case fails with a message naming what differs ---------------------------

def test_flipped_byte_fails(signed_run, keys):
    name = DATA_FILE
    path = signed_run / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = signing.verify_run(signed_run, keys.public_path)
    assert not result.ok and result.status == signing.STATUS_INVALID
    assert any(f.startswith(f"file {name}: digest differs") for f in result.findings), result.findings
    assert cli(["verify", str(signed_run), "--pubkey", str(keys.public_path)]) == 1


def test_removed_file_fails(signed_run, keys):
    name = DATA_FILE
    (signed_run / name).unlink()
    result = signing.verify_run(signed_run, keys.public_path)
    assert not result.ok
    assert f"file {name}: missing (listed in the signed manifest)" in result.findings


def test_added_file_fails(signed_run, keys):
    (signed_run / "extra.txt").write_text("slipped in later\n")
    result = signing.verify_run(signed_run, keys.public_path)
    assert not result.ok
    assert "file extra.txt: not in signed manifest (added after signing)" in result.findings


def test_edited_sample_fails_on_digest_and_on_recomputation(signed_run, keys):
    edited = {}

    def slow_down_first_sample(run):
        measurement = run["measurements"][0]
        measurement["timing"]["samples_s"][0] *= 1.5
        edited["id"] = measurement["id"]

    edit_run_json(signed_run, slow_down_first_sample)
    result = signing.verify_run(signed_run, keys.public_path)
    assert not result.ok
    assert any(f.startswith("file run.json: digest differs") for f in result.findings)
    assert any(f.startswith(f"measurement {edited['id']}: stats.") for f in result.recompute_findings), \
        result.recompute_findings


def test_edited_sample_and_resigned_by_someone_else_still_fails(signed_run, keys, tmp_path):
    """A forger with their own key: the lab key rejects the signature; recomputation rejects the numbers."""
    edit_run_json(signed_run, lambda run: run["measurements"][0]["timing"]["samples_s"].__setitem__(0, 1.0))
    forger = signing.generate_keys(tmp_path / "forger.key")
    signing.sign_run(signed_run, forger.private_path)

    with_lab_key = signing.verify_run(signed_run, keys.public_path)
    assert any(f.startswith(f"signature: invalid for key {keys.key_id[:16]}") for f in with_lab_key.findings)
    self_signed = signing.verify_run(signed_run)
    assert self_signed.signature_valid and not self_signed.findings  # integrity holds for the forged set...
    assert self_signed.recompute_findings and not self_signed.ok  # ...but the numbers do not re-derive


def test_resigned_by_another_key_without_pubkey_is_not_ok(signed_run, tmp_path, capsys):
    """No edit at all: a forger re-signs a genuine folder with their own key. Only --pubkey can tell."""
    forger = signing.generate_keys(tmp_path / "forger.key")
    signing.sign_run(signed_run, forger.private_path)
    assert not signing.verify_run(signed_run).ok
    assert cli(["verify", str(signed_run)]) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().out


def test_edited_envelope_payload_fails(signed_run, keys):
    path = signed_run / signing.SIGNATURE_FILE
    envelope = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["run_id"] = "someone-else"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))
    result = signing.verify_run(signed_run, keys.public_path)
    assert any(f.startswith("signature: invalid for key") for f in result.findings)
    assert any(f.startswith("run_id: signed 'someone-else'") for f in result.findings)


# --- keys ------------------------------------------------------------------------------------

@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_private_key_with_loose_permissions_is_refused(run_dir, keys):
    assert oct(keys.private_path.stat().st_mode & 0o777) == "0o600"
    os.chmod(keys.private_path, 0o644)
    with pytest.raises(ConfigError, match="too open"):
        signing.sign_run(run_dir, keys.private_path)
    assert not (run_dir / signing.SIGNATURE_FILE).exists()
    assert cli(["sign", str(run_dir), "--key", str(keys.private_path)]) == 2


def test_keys_are_never_written_into_results(run_dir, keys):
    with pytest.raises(UsageError, match="inside a results folder"):
        signing.generate_keys(run_dir / "lab.key")
    inside = run_dir / "lab.key"
    shutil.copy(keys.private_path, inside)
    os.chmod(inside, 0o600)
    with pytest.raises(UsageError, match="inside the results folder"):
        signing.sign_run(run_dir, inside)


def test_keygen_command_refuses_to_overwrite(tmp_path):
    target = tmp_path / "k.key"
    assert cli(["keygen", "--out", str(target)]) == 0
    assert target.is_file() and (tmp_path / "k.key.pub").is_file()
    assert cli(["keygen", "--out", str(target)]) == 2


# --- unsigned runs and labels ----------------------------------------------------------------

def test_unsigned_run_is_labelled_and_fails_verify(run_dir):
    result = signing.verify_run(run_dir)
    assert result.status == signing.STATUS_UNSIGNED == signing.signature_status(run_dir)
    assert any(label.startswith("unsigned") for label in result.labels)
    assert not result.ok
    assert cli(["verify", str(run_dir)]) == 1
    assert cli(["verify", str(run_dir), "--allow-unsigned"]) == 0


def test_signature_status_labels(signed_run, keys):
    assert signing.signature_status(signed_run, keys.public_path) == signing.STATUS_VERIFIED
    assert signing.signature_status(signed_run) == signing.STATUS_UNAUTHENTICATED
    (signed_run / "extra.txt").write_text("x")
    assert signing.signature_status(signed_run) == signing.STATUS_INVALID


def test_cpu_run_is_labelled(tmp_path, keys):
    folder = write_run(tmp_path / "cpu", synthetic_run(backend="cpu", device_name="Host CPU"))
    signing.sign_run(folder, keys.private_path)
    result = signing.verify_run(folder, keys.public_path)
    assert result.ok
    assert any(label.startswith("CPU run: Host CPU") for label in result.labels)  # a plain CPU run is no stand-in


def test_verify_of_missing_folder_is_usage_error(tmp_path):
    assert cli(["verify", str(tmp_path / "nope")]) == 2


# --- recomputation on its own --------------------------------------------------------------

def test_recompute_accepts_a_consistent_run_and_names_an_edited_stored_number():
    run = synthetic_run()
    assert recompute(run) == []
    run["measurements"][1]["throughput"]["value"] *= 1.01
    findings = recompute(run)
    assert findings[0].startswith(f"measurement {run['measurements'][1]['id']}: throughput.value")
    assert all("throughput.value" in f or f.startswith("summary.") for f in findings), findings


def test_recompute_names_an_edited_summary_number():
    run = synthetic_run()
    assert recompute_run(run).findings == []
    run["summary"]["effective_tpp"]["max"] *= 2
    assert any(f.startswith("summary.effective_tpp.max:") for f in recompute(run))


# --- operator and authorizer -----------------------------------------------------------------

def test_countersigned_run_needs_every_given_key(signed_run, keys, tmp_path):
    authorizer = signing.generate_keys(tmp_path / "authorizer.key")
    assert cli(["sign", str(signed_run), "--key", str(authorizer.private_path), "--countersign"]) == 0
    both = signing.verify_run(signed_run, [keys.public_path, authorizer.public_path])
    assert both.ok and set(both.signed_by) == {keys.key_id, authorizer.key_id}
    assert cli(["verify", str(signed_run), "--pubkey", str(keys.public_path),
                "--pubkey", str(authorizer.public_path)]) == 0

    stranger = signing.generate_keys(tmp_path / "stranger.key")
    result = signing.verify_run(signed_run, [keys.public_path, stranger.public_path])
    assert not result.ok
    assert any(f.startswith(f"signature: invalid for key {stranger.key_id[:16]}") for f in result.findings)


def test_countersigning_a_changed_run_is_refused(signed_run, tmp_path):
    authorizer = signing.generate_keys(tmp_path / "authorizer.key")
    (signed_run / "extra.txt").write_text("x")
    with pytest.raises(ResultsError, match="extra.txt: not in signed manifest"):
        signing.countersign_run(signed_run, authorizer.private_path)


def test_edited_verdict_json_is_recomputed_with_the_real_verdict_module(run_dir, keys):
    """A verdict saved as verdict.json (Verdict.to_dict() shape) is re-derived under its own profile and rule.
    A CPU run always has a declared spec (derived from its recorded device block), so check_run cannot refuse."""
    save_verdict(run_dir, check_run(json.loads((run_dir / "run.json").read_text())))
    verdict = json.loads((run_dir / "verdict.json").read_text())
    signing.sign_run(run_dir, keys.private_path)
    assert signing.verify_run(run_dir, keys.public_path).ok

    verdict["verdict"] = "pass" if verdict["verdict"] != "pass" else "fail"
    (run_dir / "verdict.json").write_text(json.dumps(verdict))
    result = signing.verify_run(run_dir, keys.public_path)
    assert any(f.startswith("file verdict.json: digest differs") for f in result.findings)
    assert any(f.startswith(f"verdict: stored {verdict['verdict']!r}, recomputed") for f in result.recompute_findings)


def test_recompute_covers_each_units_summary_and_verdict():
    unit = synthetic_run()
    unit["unit"] = "cpu-1"
    run = {"schema_version": 1, "units": [copy.deepcopy(unit)]}
    assert recompute_run(run).findings == []
    run["units"][0]["summary"]["effective_tpp"]["max"] *= 2  # an edited unit summary, samples untouched
    findings = recompute_run(run).findings
    assert findings and all(f.startswith("unit cpu-1: summary.effective_tpp.max") for f in findings)


# --- strict JSON, crafted envelopes, units that disagree with their lot -----------------------

def _rewrite_envelope(folder: Path, change) -> None:
    path = folder / signing.SIGNATURE_FILE
    envelope = json.loads(path.read_text())
    path.write_text(change(envelope) if callable(change) else change)


def test_duplicate_key_in_the_envelope_is_invalid(signed_run, keys):
    text = (signed_run / signing.SIGNATURE_FILE).read_text()
    forged = text.replace('"payloadType"', '"payloadType": "x/y", "payloadType"', 1)
    (signed_run / signing.SIGNATURE_FILE).write_text(forged)
    result = signing.verify_run(signed_run, keys.public_path)
    assert not result.ok and result.status == signing.STATUS_INVALID
    assert any("duplicate key 'payloadType'" in f for f in result.findings), result.findings


def test_duplicate_key_in_the_signed_statement_is_invalid(signed_run, tmp_path):
    """Two parsers must never read different run ids from the same signed bytes: refused even if signed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: F401

    forger = signing.generate_keys(tmp_path / "f.key")
    key = signing.load_private_key(forger.private_path)
    envelope = json.loads((signed_run / signing.SIGNATURE_FILE).read_text())
    payload = base64.b64decode(envelope["payload"]).decode()
    payload = payload.replace('"run_id":', '"run_id":"other","run_id":', 1).encode()
    signing._write_envelope(signed_run, payload, [signing._signature(key, payload)])
    result = signing.verify_run(signed_run, forger.public_path)
    assert not result.ok
    assert any("duplicate key 'run_id'" in f for f in result.findings), result.findings


def test_duplicate_key_in_run_json_fails_verification(signed_run, keys):
    path = signed_run / "run.json"
    path.write_text(path.read_text().replace('"status":', '"status": "complete", "status":', 1))
    result = signing.verify_run(signed_run, keys.public_path)
    assert not result.ok
    assert any("duplicate key 'status'" in f for f in result.recompute_findings), result.recompute_findings


def test_stale_verdict_json_is_detected(run_dir):
    from bench.rules.verdict import check_run

    verdict = {**check_run(run_dir).to_dict(), "judged": {"run_id": "someone-else", "run_json_sha256": "0" * 64}}
    (run_dir / "verdict.json").write_text(json.dumps(verdict))
    result = signing.verify_run(run_dir)
    assert any(f.startswith("verdict: verdict.json judged run 'someone-else'") for f in result.recompute_findings)
    from bench.record.verdict_file import judged_block, stale_verdict

    assert stale_verdict(run_dir, {"verdict": "pass"}).startswith("verdict.json does not name")
    fresh = {"verdict": "pass", "judged": judged_block(run_dir)}
    assert stale_verdict(run_dir, fresh) is None
    edit_run_json(run_dir, lambda run: run.__setitem__("status", "complete"))  # rewritten: bytes change
    assert stale_verdict(run_dir, fresh).startswith("verdict.json is stale")


@pytest.mark.parametrize("change, reason", [
    (lambda e: json.dumps([e]), "a JSON list, not an object"),
    (lambda e: json.dumps({**e, "payload": 7}), "envelope.payload is a int, not a str"),
    (lambda e: json.dumps({k: v for k, v in e.items() if k != "signatures"}), "envelope has no 'signatures'"),
    (lambda e: json.dumps({**e, "signatures": []}), "envelope.signatures is empty"),
    (lambda e: json.dumps({**e, "signatures": ["x"]}), "envelope.signatures[0] is not an object"),
    (lambda e: json.dumps({**e, "signatures": [{"sig": 5}]}), "envelope.signatures[0].sig is a int"),
    (lambda e: json.dumps({**e, "payload": "%%%not base64"}), "envelope.payload is not valid base64"),
    (lambda e: json.dumps({**e, "payload": base64.b64encode(b"\xff\xfe").decode()}), "not UTF-8"),
    (lambda e: json.dumps({**e, "payload": base64.b64encode(b"[" * 5000).decode()}), "nested deeper than"),
    (lambda e: json.dumps({**e, "payloadType": None}), "envelope.payloadType is a NoneType"),
    ("\x00\x01binary", "binary content"),
    ('{"payloadType": NaN}', "non-finite number NaN"),
])
def test_crafted_envelope_is_invalid_with_a_reason(signed_run, keys, change, reason, capsys):
    _rewrite_envelope(signed_run, change)
    result = signing.verify_run(signed_run, keys.public_path)
    assert result.status == signing.STATUS_INVALID and not result.ok
    assert any(reason in f for f in result.findings), result.findings
    assert cli(["verify", str(signed_run), "--pubkey", str(keys.public_path)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def _resign_statement(folder: Path, tmp_path: Path, change) -> signing.KeyFiles:
    forger = signing.generate_keys(tmp_path / "f.key")
    key = signing.load_private_key(forger.private_path)
    envelope = json.loads((folder / signing.SIGNATURE_FILE).read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    payload = json.dumps(statement).encode()
    signing._write_envelope(folder, payload, [signing._signature(key, payload)])
    return forger


@pytest.mark.parametrize("change, reason", [
    (lambda s: s["predicate"]["signer"].__setitem__("algorithm", "ecdsa-p256"), "unsupported key algorithm"),
    (lambda s: s["predicate"]["signer"].__setitem__("public_key_ed25519", base64.b64encode(b"k" * 65).decode()),
     "an Ed25519 key is 32"),
    (lambda s: s["subject"].append({"name": "../../etc/passwd", "digest": {"sha256": "0" * 64}}),
     "is not a path inside the run folder"),
    (lambda s: s["subject"].append({"name": "x", "digest": {"sha256": "zz"}}), "not a SHA-256 hex digest"),
    (lambda s: s.__setitem__("subject", {"name": "x"}), "statement.subject is a dict"),
    (lambda s: s.__setitem__("predicate", []), "statement.predicate is a list"),
])
def test_crafted_statement_is_invalid_even_when_validly_signed(signed_run, tmp_path, change, reason):
    forger = _resign_statement(signed_run, tmp_path, change)
    result = signing.verify_run(signed_run, forger.public_path)
    assert result.status == signing.STATUS_INVALID
    assert any(reason in f for f in result.findings), result.findings


def test_non_ed25519_public_key_is_an_input_error(signed_run, tmp_path, capsys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "p256.pub").write_bytes(pem)
    assert cli(["verify", str(signed_run), "--pubkey", str(tmp_path / "p256.pub")]) == 2
    assert "is not an Ed25519 key" in capsys.readouterr().err


def _multi_unit_folder(root: Path) -> Path:
    """A lot record with two units, each also in units/<label>/run.json, written by bench/lab/multiunit.py."""
    from bench.lab import multiunit
    from bench.measure.runner import host_record

    node = multiunit.node_run("lot-1", ["bench", "run"], {}, None, "node", host_record())
    records = []
    for i in range(2):
        spec = multiunit.UnitSpec(f"u{i}", f"cuda:{i}")
        unit = synthetic_run(f"unit-{i}", serial=f"SN{i}", index=i)
        multiunit.mark_unit(unit, spec, "lot-1")
        write_run(root / spec.run_dir, unit)
        records.append(multiunit.unit_record(spec, unit, 0, []))
    multiunit.finish_node(root, node, records)
    return root


def test_unit_file_that_disagrees_with_its_lot_fails(tmp_path, keys):
    folder = _multi_unit_folder(tmp_path / "lot")
    signing.sign_run(folder, keys.private_path)
    assert signing.verify_run(folder, keys.public_path).ok
    edit_run_json(folder / "units" / "u1", lambda run: run["summary"]["effective_tpp"].__setitem__("max", 1.0))
    signing.sign_run(folder, keys.private_path)  # re-signed after the edit: only the cross-check can tell
    result = signing.verify_run(folder, keys.public_path)
    assert not result.ok
    assert any(f.startswith("unit u1: units/u1/run.json disagrees with the lot record at summary.effective_tpp.max")
               for f in result.recompute_findings), result.recompute_findings


def test_unit_folder_not_in_the_lot_record_fails(tmp_path, keys):
    folder = _multi_unit_folder(tmp_path / "lot")
    write_run(folder / "units" / "ghost", synthetic_run("ghost"))
    result = signing.verify_run(folder)
    assert "units/ghost/run.json: a unit run the lot record does not summarise" in result.recompute_findings
