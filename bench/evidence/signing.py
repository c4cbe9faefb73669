"""Signed, tamper-evident run folders: Ed25519 over an in-toto Statement in a DSSE envelope.

What is signed: a manifest of the SHA-256 digest of every regular file in the run folder
(except the envelope itself), as the `subject` list of an in-toto Statement v1, wrapped in a
DSSE envelope whose signature covers the pre-authentication encoding (PAE) of the payload.

What `verify_run` checks, in order: the envelope and its signature, every file digest
(changed, missing, added), then `bench.evidence.recompute.recompute_run` — every derived number and
the verdict re-derived from the raw samples. A self-signed check (no public key given) proves
integrity only: the signer is reported as unauthenticated.

References: in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md),
DSSE envelope and PAE (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bench import __version__
from bench.errors import ConfigError, ResultsError, UsageError
from bench.evidence.recompute import VERDICT_FILE, diff, recompute_run, run_labels
from bench.record import folder as run_folder
from bench.record.jsonfile import write_json
from bench.record.units import unit_summaries
from bench.record.verdict_file import (
    SIGNATURE_FILE,
    loads_strict,
    read_json_file,
    read_verdict_file,
    safe_relative_path,
    sha256_file,
    stale_verdict,
)

EXCLUDED_FILES = frozenset({SIGNATURE_FILE})  # paths relative to the run folder, never in the manifest
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://accelbench.dev/run/v1"
PRIVATE_KEY_MARKERS = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN OPENSSH PRIVATE KEY-----",
                       b"-----BEGIN ENCRYPTED PRIVATE KEY-----")

STATUS_VERIFIED = "signed (verified)"
STATUS_UNAUTHENTICATED = "signed (signer not authenticated)"
STATUS_INVALID = "signed (INVALID)"
STATUS_UNSIGNED = "unsigned"
KEY_ALGORITHM = "ed25519"
SHA256_HEX = frozenset("0123456789abcdef")


# --- keys ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KeyFiles:
    private_path: Path
    public_path: Path
    key_id: str  # sha256 hex of the raw 32-byte public key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key id written into signatures: SHA-256 (hex) of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _refuse_results_folder(path: Path) -> None:
    """Keys are never written into (or read from) a results folder."""
    for folder in (path.parent, *path.parent.parents):
        if (folder / "run.json").is_file():
            raise UsageError(f"{path}: refusing to keep a key inside a results folder ({folder} has run.json)")


def generate_keys(private_path: str | Path, public_path: str | Path | None = None,
                  overwrite: bool = False) -> KeyFiles:
    """Write a new Ed25519 key pair: PKCS#8 PEM private key with mode 0600, SPKI PEM public key."""
    private_path = Path(private_path)
    public_path = Path(public_path) if public_path else private_path.with_name(private_path.name + ".pub")
    _refuse_results_folder(private_path.resolve())
    _refuse_results_folder(public_path.resolve())
    for path in (private_path, public_path):
        if path.exists() and not overwrite:
            raise UsageError(f"{path} already exists; pass --force to replace it")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    if private_path.exists():
        private_path.unlink()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start, so the key is never readable by others, even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(_public_pem(key.public_key()))
    return KeyFiles(private_path, public_path, key_id(key.public_key()))


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key, refusing a file that group or others may read or write."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"private key {path}: no such file")
    _refuse_public_key(path)
    data = path.read_bytes()
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(f"private key {path}: permissions {mode:04o} are too open (group/others have access); "
                          f"run `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ConfigError(f"private key {path}: not an unencrypted PEM private key ({reason})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"private key {path}: {type(key).__name__} is not an Ed25519 key")
    return key


def _refuse_public_key(path: Path) -> None:
    """A public key passed where the private key belongs: say so before any advice about permissions."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return  # unreadable: the loader below says so
    if b"-----BEGIN PUBLIC KEY-----" in head or head.startswith(b"ssh-ed25519 "):
        private = path.with_suffix("") if path.suffix == ".pub" else None
        hint = f"pass {private}" if private else "pass the private key file (the one without .pub)"
        raise UsageError(f"private key {path}: this is the public key; {hint}")


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"public key {path}: no such file")
    data = path.read_bytes()
    if any(marker in data for marker in PRIVATE_KEY_MARKERS):
        raise UsageError(f"public key {path}: this is a private key; pass the .pub file")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ConfigError(f"public key {path}: not a PEM public key ({reason})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"public key {path}: {type(key).__name__} is not an Ed25519 key")
    return key


# --- manifest ------------------------------------------------------------------------------

def _walk(run_dir: Path) -> tuple[list[str], list[str]]:
    """(regular files, other entries such as symlinks), as sorted POSIX paths relative to run_dir."""
    files, others = [], []
    for root, dirs, names in os.walk(run_dir, followlinks=False):
        root_path = Path(root)
        for name in list(dirs):
            if (root_path / name).is_symlink():
                others.append((root_path / name).relative_to(run_dir).as_posix())
                dirs.remove(name)
        for name in names:
            path = root_path / name
            relative = path.relative_to(run_dir).as_posix()
            if relative in EXCLUDED_FILES:
                continue
            (files if path.is_file() and not path.is_symlink() else others).append(relative)
    return sorted(files), sorted(others)


def build_manifest(run_dir: str | Path) -> dict[str, str]:
    """{relative POSIX path: sha256 hex} for every regular file except the signature envelope."""
    run_dir = Path(run_dir)
    files, _ = _walk(run_dir)
    return {name: sha256_file(run_dir / name) for name in files}


def read_run(run_dir: str | Path) -> dict[str, Any]:
    return dict(run_folder.RunFolder(run_dir).read_run())


# --- statement and envelope ----------------------------------------------------------------

def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def build_statement(run_dir: str | Path, run: dict[str, Any], public_key: Ed25519PublicKey,
                    signed_at: str | None = None) -> dict[str, Any]:
    """The in-toto Statement v1 for a run folder: files as subjects, run facts as predicate."""
    manifest = build_manifest(run_dir)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}} for name, digest in manifest.items()],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "run_id": run.get("run_id"),
            "tool": {"name": "accelbench", "version": __version__},
            "run_tool": run.get("tool"),
            "signed_at": signed_at or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "units": [dataclasses.asdict(unit) for unit in unit_summaries(run)],
            # Lets `verify` without --pubkey check integrity; it does not authenticate the signer.
            "signer": {"keyid": key_id(public_key), "algorithm": KEY_ALGORITHM,
                       "public_key_ed25519": base64.b64encode(raw).decode()},
            "excluded_files": sorted(EXCLUDED_FILES),
        },
    }


def _refuse_private_keys(run_dir: Path, names: list[str]) -> None:
    for name in names:
        with (run_dir / name).open("rb") as handle:
            head = handle.read(1 << 16)
        if any(marker in head for marker in PRIVATE_KEY_MARKERS):
            raise UsageError(f"{run_dir / name}: looks like a private key; keys are never part of results")


def _signing_key(run_dir: Path, private_key_path: str | Path) -> Ed25519PrivateKey:
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a folder")
    if run_dir.resolve() in Path(private_key_path).resolve().parents:
        raise UsageError(f"{private_key_path}: the private key is inside the results folder; move it out")
    return load_private_key(private_key_path)


def _write_envelope(run_dir: Path, payload: bytes, signatures: list[dict[str, str]]) -> Path:
    envelope = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode("ascii"),
                "signatures": signatures}
    return write_json(run_dir / SIGNATURE_FILE, envelope, indent=2)


def _signature(key: Ed25519PrivateKey, payload: bytes) -> dict[str, str]:
    return {"keyid": key_id(key.public_key()),
            "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode("ascii")}


def sign_run(run_dir: str | Path, private_key_path: str | Path) -> Path:
    """Sign a run folder, replacing any earlier envelope. Returns the envelope's path."""
    run_dir = Path(run_dir)
    key = _signing_key(run_dir, private_key_path)
    run = read_run(run_dir)
    files, others = _walk(run_dir)
    if others:
        raise ResultsError(f"{run_dir}: cannot sign links or special files: {', '.join(others)}")
    if run.get("status") == "running":
        raise ResultsError(f"{run_dir}: run is still in progress (status 'running'); sign it when it has ended")
    _refuse_private_keys(run_dir, files)
    statement = build_statement(run_dir, run, key.public_key())
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _write_envelope(run_dir, payload, [_signature(key, payload)])


def countersign_run(run_dir: str | Path, private_key_path: str | Path) -> Path:
    """Add a second signature (e.g. the authorizer's, ISO/IEC 17025 §7.8.2.1 o) over the statement
    already signed, after checking that no file changed since. Re-countersigning replaces one's own."""
    run_dir = Path(run_dir)
    key = _signing_key(run_dir, private_key_path)
    if not (run_dir / SIGNATURE_FILE).is_file():
        raise UsageError(f"{run_dir}: not signed yet; run `bench sign` first, then countersign")
    check = verify_run(run_dir, recompute=False)
    if check.findings:
        raise ResultsError(f"{run_dir}: refusing to countersign: " + "; ".join(check.findings))
    try:
        envelope, payload, _ = _parse_envelope(run_dir / SIGNATURE_FILE)
    except _Malformed as exc:
        raise ResultsError(f"{run_dir / SIGNATURE_FILE}: not a valid DSSE envelope: {exc}") from None
    mine = key_id(key.public_key())
    others = [s for s in envelope["signatures"] if s.get("keyid") != mine]
    return _write_envelope(run_dir, payload, others + [_signature(key, payload)])


# --- verification --------------------------------------------------------------------------

@dataclasses.dataclass
class Verification:
    """Outcome of `verify_run`. `findings` name each thing that differs; empty means verified."""

    run_dir: Path
    signed: bool
    signature_valid: bool | None = None  # None: unsigned
    key_id: str | None = None
    signed_by: list[str] = dataclasses.field(default_factory=list)  # key ids whose signature verified
    signer_authenticated: bool = False  # True only when the caller supplied the public key
    signed_at: str | None = None
    files_checked: int = 0
    findings: list[str] = dataclasses.field(default_factory=list)  # signature and file problems
    recompute_findings: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # what could not be checked
    labels: list[str] = dataclasses.field(default_factory=list)  # "unsigned", CPU stand-in, ...

    @property
    def integrity_ok(self) -> bool:
        """Signature valid, every file digest matches, every number re-derives; says nothing about who signed."""
        return self.signed and bool(self.signature_valid) and not self.findings and not self.recompute_findings

    @property
    def ok(self) -> bool:
        """Verified: integrity holds and the signer was authenticated by a public key the caller gave."""
        return self.integrity_ok and self.signer_authenticated

    @property
    def status(self) -> str:
        if not self.signed:
            return STATUS_UNSIGNED
        if not self.signature_valid or self.findings:
            return STATUS_INVALID
        return STATUS_VERIFIED if self.signer_authenticated else STATUS_UNAUTHENTICATED


class _Malformed(ValueError):
    """A crafted or damaged envelope; the message is the reason."""


def _need(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(mapping, dict):
        raise _Malformed(f"{where} is not an object")
    if key not in mapping:
        raise _Malformed(f"{where} has no {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _Malformed(f"{where}.{key} is a {type(value).__name__}, not a {names}")
    return value


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise _Malformed(f"{where} is not valid base64") from None


def _parse_envelope(path: Path) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    """(envelope, payload bytes, statement) after checking every field's type; _Malformed otherwise."""
    try:
        envelope = read_json_file(path)
    except ResultsError as exc:
        raise _Malformed(str(exc).split(": ", 1)[-1]) from None
    if not isinstance(envelope, dict):
        raise _Malformed(f"the envelope is a JSON {type(envelope).__name__}, not an object")
    payload_type = _need(envelope, "payloadType", str, "envelope")
    if payload_type != PAYLOAD_TYPE:
        raise _Malformed(f"payloadType {payload_type[:60]!r} is not {PAYLOAD_TYPE!r}")
    payload = _b64(_need(envelope, "payload", str, "envelope"), "envelope.payload")
    signatures = _need(envelope, "signatures", list, "envelope")
    if not signatures:
        raise _Malformed("envelope.signatures is empty")
    for i, signature in enumerate(signatures):
        _need(signature, "sig", str, f"envelope.signatures[{i}]")
        if "keyid" in signature and not isinstance(signature["keyid"], str):
            raise _Malformed(f"envelope.signatures[{i}].keyid is not a string")
    try:
        statement = loads_strict(payload, "the signed statement")
    except ResultsError as exc:
        raise _Malformed(str(exc)) from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _Malformed("payload is not an in-toto Statement v1")
    _check_subjects(_need(statement, "subject", list, "statement"))
    predicate = _need(statement, "predicate", dict, "statement")
    signer = predicate.get("signer")
    if signer is not None:
        _check_signer(signer)
    return envelope, payload, statement


def _check_subjects(subjects: list[Any]) -> None:
    for i, subject in enumerate(subjects):
        where = f"statement.subject[{i}]"
        name = _need(subject, "name", str, where)
        if not safe_relative_path(name):
            raise _Malformed(f"{where}.name {name[:60]!r} is not a path inside the run folder")
        digest = _need(_need(subject, "digest", dict, where), "sha256", str, f"{where}.digest")
        if len(digest) != 64 or not set(digest) <= SHA256_HEX:
            raise _Malformed(f"{where}.digest.sha256 is not a SHA-256 hex digest")


def _check_signer(signer: Any) -> None:
    if not isinstance(signer, dict):
        raise _Malformed("statement.predicate.signer is not an object")
    algorithm = signer.get("algorithm", KEY_ALGORITHM)
    if algorithm != KEY_ALGORITHM:
        raise _Malformed(f"unsupported key algorithm {str(algorithm)[:40]!r} (only Ed25519 is accepted)")
    if "public_key_ed25519" in signer:
        raw = _b64(_need(signer, "public_key_ed25519", str, "statement.predicate.signer"),
                   "statement.predicate.signer.public_key_ed25519")
        if len(raw) != 32:
            raise _Malformed(f"the embedded public key is {len(raw)} bytes; an Ed25519 key is 32")


def _load_envelope(path: Path, result: Verification) -> dict[str, Any] | None:
    try:
        envelope, payload, statement = _parse_envelope(path)
    except _Malformed as exc:
        result.findings.append(f"signature: {SIGNATURE_FILE} is not a valid DSSE envelope: {exc}")
        return None
    if statement.get("predicateType") != PREDICATE_TYPE:
        result.findings.append(f"signature: predicateType {str(statement.get('predicateType'))[:60]!r} "
                               f"is not {PREDICATE_TYPE!r}")
    envelope["_payload_bytes"] = payload
    envelope["_statement"] = statement
    return envelope


def _embedded_key(statement: dict[str, Any]) -> Ed25519PublicKey | None:
    try:
        raw = base64.b64decode(statement["predicate"]["signer"]["public_key_ed25519"], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, TypeError, ValueError):
        return None


def _signature_verifies(key: Ed25519PublicKey, envelope: dict[str, Any]) -> bool:
    message = pae(PAYLOAD_TYPE, envelope["_payload_bytes"])
    for signature in envelope["signatures"] or []:
        try:
            key.verify(base64.b64decode(signature.get("sig", ""), validate=True), message)
        except (InvalidSignature, ValueError, TypeError, AttributeError):
            continue
        return True
    return False


def _check_signature(envelope: dict[str, Any], public_keys: list[Ed25519PublicKey], result: Verification) -> None:
    """Every given key must have a valid signature (operator and authorizer); none given: the embedded key."""
    keys = public_keys or [k for k in [_embedded_key(envelope["_statement"])] if k is not None]
    if not keys:
        result.signature_valid = False
        result.findings.append("signature: no public key given and none embedded in the statement")
        return
    result.key_id = key_id(keys[0])
    result.signed_by = [key_id(k) for k in keys if _signature_verifies(k, envelope)]
    signed_ids = ", ".join(str(s.get("keyid"))[:16] for s in envelope["signatures"] or []
                           if isinstance(s, dict)) or "none"
    for key in keys:
        if key_id(key) not in result.signed_by:
            result.findings.append(f"signature: invalid for key {key_id(key)[:16]} (envelope key ids: {signed_ids})")
    result.signature_valid = len(result.signed_by) == len(keys)


def _check_files(run_dir: Path, statement: dict[str, Any], result: Verification) -> None:
    signed: dict[str, str] = {}
    for subject in statement.get("subject") or []:
        try:
            signed[subject["name"]] = subject["digest"]["sha256"]
        except (KeyError, TypeError):
            result.findings.append(f"signature: malformed subject {subject!r}")
    files, others = _walk(run_dir)
    present = set(files)
    for name in others:
        result.findings.append(f"file {name}: link or special file, not allowed in a signed run")
    for name, digest in sorted(signed.items()):
        if name not in present:
            result.findings.append(f"file {name}: missing (listed in the signed manifest)")
            continue
        actual = sha256_file(run_dir / name)
        result.files_checked += 1
        if actual != digest:
            result.findings.append(f"file {name}: digest differs (signed sha256 {digest[:12]}…, now {actual[:12]}…)")
    for name in sorted(present - set(signed)):
        result.findings.append(f"file {name}: not in signed manifest (added after signing)")


def verify_run(run_dir: str | Path, public_key_path: str | Path | list[str | Path] | None = None, *,
               recompute: bool = True) -> Verification:
    """Check signature, every file digest, and (if `recompute`) every derived number and verdict.

    `public_key_path`: one key file or several (e.g. operator and authorizer); each must have signed.
    None: the key embedded in the envelope, which proves integrity but not who signed (`ok` is then
    False; `integrity_ok` says whether everything else holds)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a folder")
    if isinstance(public_key_path, (str, Path)):
        public_key_path = [public_key_path]
    public_keys = [load_public_key(path) for path in public_key_path or []]
    envelope_path = run_dir / SIGNATURE_FILE
    result = Verification(run_dir=run_dir, signed=envelope_path.is_file(), signer_authenticated=bool(public_keys))
    if not result.signed:
        result.labels.append("unsigned: no signature; integrity and origin cannot be checked")
    else:
        _verify_envelope(run_dir, envelope_path, public_keys, result)
    if (run_dir / "run.json").is_file():
        _verify_numbers(run_dir, result, recompute)
    elif not result.signed:
        raise ResultsError(f"{run_dir}: no run.json (not a results folder)")
    return result


def _verify_envelope(run_dir: Path, envelope_path: Path, public_keys: list[Ed25519PublicKey],
                     result: Verification) -> None:
    envelope = _load_envelope(envelope_path, result)
    if envelope is None:
        result.signature_valid = False
        return
    statement = envelope["_statement"]
    signed_at = statement["predicate"].get("signed_at")
    result.signed_at = signed_at if isinstance(signed_at, str) else None
    _check_signature(envelope, public_keys, result)
    _check_files(run_dir, statement, result)
    _check_run_id(run_dir, statement, result)
    if not public_keys and result.signature_valid:
        result.notes.insert(0, "signer UNAUTHENTICATED: checked against the key embedded in the envelope, which "
                               "proves integrity, not origin; pass --pubkey with the lab's public key")


def _verify_numbers(run_dir: Path, result: Verification, recompute: bool) -> None:
    try:
        run = read_run(run_dir)
        run = _with_verdict_file(run, run_dir, result)
    except ResultsError as exc:
        result.recompute_findings.append(str(exc))
        return
    result.labels.extend(run_labels(run))
    result.recompute_findings.extend(unit_file_findings(run_dir, run))
    if recompute:
        outcome = recompute_run(run)
        result.recompute_findings.extend(outcome.findings)
        result.notes.extend(outcome.notes)


def _with_verdict_file(run: dict[str, Any], run_dir: Path, result: Verification) -> dict[str, Any]:
    """run.json with verdict.json's verdict, after checking it is strict JSON and judged this run.json."""

    path = run_dir / VERDICT_FILE
    if not path.is_file():
        return run
    stored = read_verdict_file(path)
    reason = stale_verdict(run_dir, stored)
    if reason:
        result.recompute_findings.append(f"verdict: {reason}")
    return run if run.get("verdict") else {**run, "verdict": stored}


UNIT_RECORD_ONLY = frozenset({"unit", "status", "run_dir", "device_spec", "stand_in", "label_note", "exit_code",
                              "error", "output_tail", "schema_version"})


def unit_file_findings(run_dir: Path, run: dict[str, Any]) -> list[str]:
    """Multi-unit folders: each units/<label>/run.json must say what the lot record says of that unit,
    and no unit folder may hold a run.json that the lot record does not summarise."""
    units = run.get("units")
    if units is None:
        return []
    if not isinstance(units, list):
        return [f"run.json: 'units' is a {type(units).__name__}, not a list"]
    findings, referenced = [], set()
    for i, record in enumerate(units):
        if not isinstance(record, dict):
            findings.append(f"units[{i}]: not an object")
            continue
        label, folder = record.get("unit"), record.get("run_dir")
        if folder is None:
            continue  # a unit measured in this process: the lot record is its only copy
        if not isinstance(folder, str) or not safe_relative_path(folder):
            findings.append(f"unit {str(label)[:40]}: run_dir {str(folder)[:60]!r} is not a path inside the run folder")
            continue
        referenced.add(folder)
        findings.extend(_unit_agrees(run_dir, folder, str(label), record))
    units_root = run_dir / "units"
    if units_root.is_dir():
        for path in sorted(units_root.glob("*/run.json")):
            folder = path.parent.relative_to(run_dir).as_posix()
            if folder not in referenced:
                findings.append(f"{folder}/run.json: a unit run the lot record does not summarise")
    return findings


def _unit_agrees(run_dir: Path, folder: str, label: str, record: dict[str, Any]) -> list[str]:
    path = run_dir / folder / "run.json"
    if not path.is_file():
        if record.get("status") == "failed" and "run_id" not in record:
            return []  # the worker never wrote a run
        return [f"unit {label}: {folder}/run.json is missing"]
    try:
        own = dict(run_folder.read_run(path))
    except ResultsError as exc:
        return [f"unit {label}: {exc}"]
    findings = []
    for key in sorted(set(own) | set(record), key=str):
        if key in UNIT_RECORD_ONLY:
            continue
        if key not in own or key not in record:
            where = "lot record" if key not in record else f"{folder}/run.json"
            findings.append(f"unit {label}: {key!r} missing from the {where}")
            continue
        findings.extend(f"unit {label}: {folder}/run.json disagrees with the lot record at {line}"
                        for line in diff(record[key], own[key], key)[:5])
    own_unit = own.get("unit")
    if isinstance(own_unit, dict) and own_unit.get("label") not in (None, label):
        findings.append(f"unit {label}: {folder}/run.json is labelled {str(own_unit.get('label'))[:40]!r}")
    return findings


def _check_run_id(run_dir: Path, statement: dict[str, Any], result: Verification) -> None:
    signed_id = (statement.get("predicate") or {}).get("run_id")
    try:
        actual = read_run(run_dir).get("run_id")
    except ResultsError:
        return  # reported by the file check (missing) or by recompute (unreadable)
    if signed_id != actual:
        result.findings.append(f"run_id: signed {str(signed_id)[:80]!r}, run.json has {str(actual)[:80]!r}")


def signature_status(run_dir: str | Path, public_key_path: str | Path | None = None) -> str:
    """One label for reports: "signed (verified)", "signed (INVALID)" or "unsigned".

    Checks signature and digests only (no recomputation), so it is cheap enough for every report."""
    return verify_run(run_dir, public_key_path, recompute=False).status
