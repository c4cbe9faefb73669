"""The hostile corpus: generated bad inputs for every reader and command, each with what must happen.

A case builds its own inputs from the session lab (tests/hostile/conftest.py) into a fresh folder and
returns the argv for `bench.cli.main`. It states the exit code, a pattern the one-line message (or the
output, for verdict cases) must match, and, for a fix that belongs to another helper's branch, who.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path
from typing import Callable

from bench.evidence import signing

# Only the tiniest measurement, so that a case whose refusal is missing costs a second, not minutes.
TINY = ["--device", "cpu", "--quiet", "--suites", "stream", "--set", "suites.stream.kernels=[triad]",
        "--set", "suites.stream.llc_multiple=0.25", "--set", "timing.samples=3", "--set", "timing.max_samples=3"]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    build: Callable  # (lab, tmp: Path) -> argv
    code: int
    message: str | None = None  # regex searched in stderr (exit 2) or stdout (verdict cases)
    kind: str = "error"  # "error": bad input -> clear one-line error; "verdict": the outcome is asserted
    owner: str | None = None  # helper whose branch carries the fix, for cases that fail on this one


# --- corruptions ---------------------------------------------------------------------------

def _insert_first(valid: bytes, entry: bytes) -> bytes:
    """`{entry, ...rest}`: a key added in front of a JSON object's first key."""
    start = valid.index(b"{") + 1
    return valid[:start] + entry + b", " + valid[start:]


def json_corruptions(valid: bytes, wrong_types: dict) -> dict[str, bytes]:
    first_key = next(iter(json.loads(valid)))
    return {
        "binary": b"\x00\xff\xfe\x01\x80" * 64,
        "non-utf8": _insert_first(valid, b'"note": "caf\xe9"'),
        "truncated": valid[: len(valid) // 2],
        "empty": b"",
        "deep-array": b"[" * 50_000 + b"]" * 50_000,
        "deep-object": b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
        "json-list": b"[1, 2, 3]",
        "json-string": b'"run"',
        "json-null": b"null",
        "future-schema": _insert_first(valid.replace(b'"schema_version": 1,', b""), b'"schema_version": 99'),
        "schema-as-string": _insert_first(valid.replace(b'"schema_version": 1,', b""), b'"schema_version": "1"'),
        "wrong-value-types": json.dumps(wrong_types).encode(),
        "duplicate-key": _insert_first(valid, json.dumps(first_key).encode() + b': "shadowed"'),
        "nan": _insert_first(valid, b'"x": NaN'),
        "infinity": _insert_first(valid, b'"x": -Infinity'),
        "huge-float": _insert_first(valid, b'"x": 1e999'),
        "huge-int": _insert_first(valid, b'"x": 1' + b"0" * 400),
    }


RUN_WRONG_TYPES = {"schema_version": 1, "run_id": 5, "status": ["complete"], "device": "cuda",
                   "measurements": {"a": 1}, "summary": [1, 2], "units": "u", "skips": 3}
VERDICT_WRONG_TYPES = {"verdict": ["pass"], "judged": "yes", "criteria": 5, "checks": "x"}
ENVELOPE_WRONG_TYPES = {"payloadType": 1, "payload": [], "signatures": {"sig": 1}}

ALIAS_BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
              "units: [*f, *f]\nsuites: [*f]\ndevices: [*f]\nclasses: [*f]\n")


def yaml_corruptions(valid: str) -> dict[str, bytes]:
    return {
        "binary": b"\x00\xff\xfe\x01\x80" * 64,
        "non-utf8": b"name: caf\xe9\n" + valid.encode(),
        "truncated": valid.encode()[: len(valid) // 2] + b"\n  - [unclosed, ",
        "empty": b"",
        "deep-nesting": b"[" * 20_000 + b"]" * 20_000,
        "yaml-list": b"- 1\n- 2\n",
        "yaml-scalar": b"just a string\n",
        "int-keys": b"1: 2\n? [a, b]\n: c\n",
        "future-schema": b"schema_version: 99\n" + valid.encode(),
        "alias-bomb": ALIAS_BOMB.encode(),
        "python-tag": b"!!python/object/apply:os.system ['echo pwned']\n",
    }


# --- building inputs -----------------------------------------------------------------------

def _replace(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _resign(folder: Path, key: signing.KeyFiles) -> None:
    signing.sign_run(folder, key.private_path)


def _statement(folder: Path) -> dict:
    envelope = json.loads((folder / signing.SIGNATURE_FILE).read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def _sign_statement(folder: Path, key: signing.KeyFiles, statement: dict | bytes) -> None:
    payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
    private = signing.load_private_key(key.private_path)
    signing._write_envelope(folder, payload, [signing._signature(private, payload)])


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


# --- the cases ---------------------------------------------------------------------------------

def run_json_cases() -> list[Case]:
    """run.json corrupted, read by every command that reads a run folder."""
    from conftest import Lab  # noqa: F401 -- the lab type, for readers of this file

    cases = []
    valid = json.dumps({"schema_version": 1, "run_id": "x", "status": "complete", "measurements": []},
                       indent=2).encode()
    for name, data in json_corruptions(valid, RUN_WRONG_TYPES).items():
        def corrupt(lab, tmp, data=data, source="good"):
            folder = lab.copy(getattr(lab, source), tmp / "run")
            _replace(folder / "run.json", data)
            return folder

        cases += [
            Case(f"check/run.json/{name}", lambda lab, tmp, c=corrupt: ["check", str(c(lab, tmp))], 2,
                 r"run\.json"),
            Case(f"verify-signed/run.json/{name}",
                 lambda lab, tmp, c=corrupt: ["verify", str(c(lab, tmp)), "--pubkey", str(lab.lab_key.public_path)],
                 1, r"DIFFERS: file run\.json: digest differs", kind="verdict"),
            Case(f"verify-unsigned/run.json/{name}",
                 lambda lab, tmp, c=corrupt: ["verify", str(c(lab, tmp, source="unsigned")), "--allow-unsigned"],
                 1, r"DIFFERS: .*run\.json", kind="verdict"),
            Case(f"fleet/run.json/{name}",
                 lambda lab, tmp, c=corrupt: ["fleet", str(c(lab, tmp)), str(lab.lot[0]), "--pubkey",
                                              str(lab.lab_key.public_path)], 2, r"run\.json"),
            Case(f"sign/run.json/{name}",
                 lambda lab, tmp, c=corrupt: ["sign", str(c(lab, tmp, source="unsigned")), "--key",
                                              str(lab.lab_key.private_path)], 2, r"run\.json"),
            Case(f"report/run.json/{name}",
                 lambda lab, tmp, c=corrupt: ["report", str(c(lab, tmp, source="unsigned")), "--out",
                                              str(tmp / "report")], 2, r"run\.json", owner="A"),
            Case(f"compare/run.json/{name}",
                 lambda lab, tmp, c=corrupt: ["compare", str(lab.unsigned), str(c(lab, tmp, source="unsigned"))],
                 2, r"run\.json", owner="A"),
        ]
    return cases


def verdict_json_cases() -> list[Case]:
    cases = []
    valid = json.dumps({"schema_version": 1, "verdict": "pass", "criteria": []}, indent=2).encode()
    for name, data in json_corruptions(valid, VERDICT_WRONG_TYPES).items():
        def signed(lab, tmp, data=data):
            folder = lab.copy(lab.good, tmp / "run")
            _replace(folder / "verdict.json", data)
            return folder

        def unsigned_lot(lab, tmp, data=data):
            folders = [lab.copy(unit, tmp / unit.name) for unit in lab.lot]
            for folder in folders:
                (folder / signing.SIGNATURE_FILE).unlink()
            _replace(folders[1] / "verdict.json", data)
            return folders

        cases += [
            Case(f"verify/verdict.json/{name}",
                 lambda lab, tmp, s=signed: ["verify", str(s(lab, tmp)), "--pubkey", str(lab.lab_key.public_path)],
                 1, r"DIFFERS: file verdict\.json: digest differs", kind="verdict"),
            Case(f"fleet-signed/verdict.json/{name}",
                 lambda lab, tmp, s=signed: ["fleet", str(s(lab, tmp)), *map(str, lab.lot), "--pubkey",
                                             str(lab.lab_key.public_path)],
                 1, r"Lot result: NOT OK", kind="verdict"),
            Case(f"fleet-unsigned/verdict.json/{name}",
                 lambda lab, tmp, u=unsigned_lot: ["fleet", *map(str, u(lab, tmp)), "--allow-unsigned"],
                 1, r"- Evidence: HX-0002: evidence does not hold: .*verdict\.json", kind="verdict"),
        ]
    return cases


def envelope_cases() -> list[Case]:
    cases = []
    valid = json.dumps({"payloadType": signing.PAYLOAD_TYPE, "payload": "", "signatures": []}, indent=2).encode()
    for name, data in json_corruptions(valid, ENVELOPE_WRONG_TYPES).items():
        def corrupt(lab, tmp, data=data):
            folder = lab.copy(lab.good, tmp / "run")
            _replace(folder / signing.SIGNATURE_FILE, data)
            return folder

        cases += [
            Case(f"verify/envelope/{name}",
                 lambda lab, tmp, c=corrupt: ["verify", str(c(lab, tmp)), "--pubkey", str(lab.lab_key.public_path)],
                 1, r"signed \(INVALID\)[\s\S]*DIFFERS: signature: signature\.dsse\.json is not a valid DSSE envelope",
                 kind="verdict"),
            Case(f"fleet/envelope/{name}",
                 lambda lab, tmp, c=corrupt: ["fleet", str(c(lab, tmp)), *map(str, lab.lot), "--pubkey",
                                              str(lab.lab_key.public_path)],
                 1, r"- Evidence: HX-GOOD: evidence does not hold: signature: ", kind="verdict"),
        ]
    return cases


def _valid_plan() -> str:
    return ("name: hostile\nsuite: quick\nsuites: [stream]\ndevice: cpu\n"
            "set: ['suites.stream.kernels=[triad]', 'suites.stream.llc_multiple=0.25', 'timing.samples=3',"
            " 'timing.max_samples=3']\n")


def _valid_suite() -> str:
    return ("name: tiny\ntiming: {samples: 3, max_samples: 3, max_measure_s: 0.2, warmup_max_s: 0.05}\n"
            "suites:\n  stream: {kernels: [triad], dtype: fp32, llc_multiple: 0.25}\n")


def _valid_declared() -> str:
    return ("sources: {s: exporter}\ndevices:\n  - id: hx\n    name: HX Part\n    vendor: X\n"
            "    match: ['NVIDIA H100 80GB HBM3']\n    peaks: [{dtype: bf16, tops: 989.5, source: s}]\n"
            "    memory: {gib: 80, bandwidth_gbps: 3350, source: s}\n")


def _valid_profile() -> str:
    from bench.rules.profiles import profile_files

    return next(f for f in profile_files() if f.name.startswith("us-2026-01")).read_text()


def yaml_cases() -> list[Case]:
    contexts = {
        # name: (valid text, file name, argv builder, owner of a missing refusal)
        "plan": (_valid_plan(), "plan.yaml",
                 lambda lab, tmp, f: ["run", "--plan", str(f), "--quiet", "--out", str(tmp / "out")], "G"),
        "suite": (_valid_suite(), "suite.yaml",
                  lambda lab, tmp, f: ["run", "--suite", str(f), "--device", "cpu", "--quiet", "--out",
                                       str(tmp / "out")], "A"),
        "manifest": ("lot: HX\nunits: [HX-0001, HX-0002, HX-0003]\n", "manifest.yaml",
                     lambda lab, tmp, f: ["fleet", *map(str, lab.lot), "--manifest", str(f), "--pubkey",
                                          str(lab.lab_key.public_path)], "A"),
        "declared": (_valid_declared(), "declared.yaml",
                     lambda lab, tmp, f: ["check", str(lab.unsigned), "--declared", str(f), "--no-save"], "C"),
        "profile-check": (_valid_profile(), "profile.yaml",
                          lambda lab, tmp, f: ["check", str(lab.unsigned), "--profile", str(f), "--no-save"], "C"),
        "profile-specs": (_valid_profile(), "profile.yaml",
                          lambda lab, tmp, f: ["specs", "--profile", str(f)], "C"),
    }
    cases = []
    for context, (valid, file_name, argv, owner) in contexts.items():
        for name, data in yaml_corruptions(valid).items():
            def build(lab, tmp, data=data, file_name=file_name, argv=argv):
                return argv(lab, tmp, _replace(tmp / file_name, data))

            if context == "manifest" and name == "yaml-list":  # a bare list is a valid manifest: serials 1, 2
                cases.append(Case(f"{context}/yaml/{name}", build, 1, r"- Missing serials: 1", kind="verdict"))
                continue
            reader = "A" if name in ("binary", "non-utf8", "deep-nesting", "alias-bomb", "empty") else owner
            cases.append(Case(f"{context}/yaml/{name}", build, 2, None, owner=reader))
    cases += _yaml_number_cases()
    return cases


def _yaml_number_cases() -> list[Case]:
    """Numbers from configs are bounded: .inf, 1e308, 10^20 samples, negative timeouts, 0 GB/s, NaN peaks."""
    suite = _valid_suite()
    plan = _valid_plan()

    def suite_case(name: str, text: str) -> Case:
        return Case(f"suite/number/{name}", lambda lab, tmp: ["run", "--suite", str(_replace(tmp / "s.yaml", text.encode())),
                                                              "--device", "cpu", "--quiet", "--out", str(tmp / "o")],
                    2, None, owner="G")

    def plan_case(name: str, text: str) -> Case:
        return Case(f"plan/number/{name}", lambda lab, tmp: ["run", "--plan", str(_replace(tmp / "p.yaml", text.encode())),
                                                             "--quiet", "--out", str(tmp / "o")], 2, None, owner="G")

    def declared_case(name: str, text: str) -> Case:
        return Case(f"declared/number/{name}",
                    lambda lab, tmp: ["check", str(lab.unsigned), "--no-save", "--declared",
                                      str(_replace(tmp / "d.yaml", text.encode()))], 2,
                    r"finite|positive|number|kind", owner="C")

    def manifest_case(name: str, text: str) -> Case:
        return Case(f"manifest/number/{name}",
                    lambda lab, tmp: ["fleet", *map(str, lab.lot), "--pubkey", str(lab.lab_key.public_path),
                                      "--manifest", str(_replace(tmp / "m.yaml", text.encode()))], 2, r"spread")

    declared = _valid_declared()
    return [
        suite_case("samples-inf", suite.replace("samples: 3,", "samples: .inf,")),
        suite_case("samples-1e20", suite.replace("samples: 3,", "samples: 100000000000000000000,")),
        suite_case("max-measure-negative", suite.replace("max_measure_s: 0.2", "max_measure_s: -1")),
        suite_case("max-measure-inf", suite.replace("max_measure_s: 0.2", "max_measure_s: .inf")),
        suite_case("max-measure-1e308", suite.replace("max_measure_s: 0.2", "max_measure_s: 1e308")),
        suite_case("llc-multiple-nan", suite.replace("llc_multiple: 0.25", "llc_multiple: .nan")),
        plan_case("repeats-huge", plan + "repeats: 100000000000000000000\n"),
        plan_case("k-negative", plan + "k: -2\n"),
        plan_case("unit-label-traversal", plan + "manifest: {lot: L, units: [{serial: S1, label: ../../x, "
                                                 "stand_in: true}]}\n"),
        declared_case("bandwidth-zero", declared.replace("bandwidth_gbps: 3350", "bandwidth_gbps: 0")),
        declared_case("bandwidth-nan", declared.replace("bandwidth_gbps: 3350", "bandwidth_gbps: .nan")),
        declared_case("peak-nan", declared.replace("tops: 989.5", "tops: .nan")),
        declared_case("peak-inf", declared.replace("tops: 989.5", "tops: .inf")),
        declared_case("peak-negative", declared.replace("tops: 989.5", "tops: -989.5")),
        declared_case("kind-banana", declared.replace("    vendor: X\n", "    vendor: X\n    kind: banana\n")),
        manifest_case("spread-inf", "spread: .inf\nunits: [HX-0001, HX-0002, HX-0003]\n"),
        manifest_case("spread-nan", "spread: .nan\nunits: [HX-0001, HX-0002, HX-0003]\n"),
        manifest_case("spread-negative", "spread: -0.05\nunits: [HX-0001, HX-0002, HX-0003]\n"),
    ]


def _out_cases() -> list[Case]:
    """Every unwritable output is exit 2 with one line."""
    def a_file(tmp: Path) -> Path:
        return _replace(tmp / "a-file", b"x")

    def dangling(tmp: Path) -> Path:
        link = tmp / "dangling"
        link.symlink_to(tmp / "nowhere" / "at-all")
        return link

    return [
        Case("run/out-is-a-file", lambda lab, tmp: ["run", *TINY, "--out", str(a_file(tmp))], 2, None, owner="G"),
        Case("run/out-unwritable", lambda lab, tmp: ["run", *TINY, "--out", "/proc/accelbench-x"], 2, None, owner="G"),
        Case("run/out-dangling-symlink", lambda lab, tmp: ["run", *TINY, "--out", str(dangling(tmp))], 2, None,
             owner="G"),
        Case("run/out-signed-folder", lambda lab, tmp: ["run", *TINY, "--out", str(lab.copy(lab.good, tmp / "r"))],
             2, None, owner="G"),
        Case("check/junit-missing-folder", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save", "--junit",
                                                             str(tmp / "nonexistent" / "x.xml")], 2, r"--junit"),
        Case("check/junit-is-a-folder", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save", "--junit",
                                                          str(tmp)], 2, r"is a folder"),
        Case("check/summary-md-missing-folder", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save",
                                                                  "--summary-md", str(tmp / "nonexistent" / "s.md")], 2,
             r"--summary-md"),
        Case("report/out-unwritable", lambda lab, tmp: ["report", str(lab.unsigned), "--out", "/proc/accelbench/r"],
             2, None, owner="F1"),
        Case("report/out-is-a-file", lambda lab, tmp: ["report", str(lab.unsigned), "--out", str(a_file(tmp))], 2,
             None, owner="F1"),
        Case("keygen/out-missing-parent-unwritable", lambda lab, tmp: ["keygen", "--out", "/proc/x/k.key"], 2, None,
             owner="F2"),
        Case("keygen/out-is-a-folder", lambda lab, tmp: ["keygen", "--out", str(tmp)], 2, None, owner="F2"),
    ]


def _argument_cases() -> list[Case]:
    def private_as_public(lab, tmp):
        return ["verify", str(lab.good), "--pubkey", str(lab.lab_key.private_path)]

    def file_with(tmp: Path, data: bytes, mode: int = 0o600) -> str:
        path = _replace(tmp / "key", data)
        path.chmod(mode)
        return str(path)

    good = lambda lab: str(lab.good)  # noqa: E731
    return [
        Case("cli/no-command", lambda lab, tmp: [], 2, None, owner="A"),
        Case("cli/unknown-command", lambda lab, tmp: ["frobnicate"], 2, r"invalid choice"),
        Case("cli/unknown-option", lambda lab, tmp: ["check", good(lab), "--frobnicate"], 2, r"unrecognized"),
        Case("run/device-superscript", lambda lab, tmp: ["run", *TINY, "--device", "cpu:²", "--out", str(tmp / "o")],
             2, r"cpu:(²|\\xb2)", owner="D"),
        Case("run/device-negative-index", lambda lab, tmp: ["run", *TINY, "--device", "cuda:-1", "--out",
                                                            str(tmp / "o")], 2, None, owner="D"),
        Case("run/device-nonsense", lambda lab, tmp: ["run", *TINY, "--device", "banana", "--out", str(tmp / "o")],
             2, None),
        Case("run/set-samples-1e20", lambda lab, tmp: ["run", *TINY, "--set", "timing.samples=100000000000000000000",
                                                       "--out", str(tmp / "o")], 2, r"timing\.samples", owner="G"),
        Case("run/set-samples-inf", lambda lab, tmp: ["run", *TINY, "--set", "timing.samples=.inf", "--out",
                                                      str(tmp / "o")], 2, r"timing\.samples"),
        Case("run/set-samples-nan", lambda lab, tmp: ["run", *TINY, "--set", "timing.samples=.nan", "--out",
                                                      str(tmp / "o")], 2, r"timing\.samples"),
        Case("run/set-max-measure-negative", lambda lab, tmp: ["run", *TINY, "--set", "timing.max_measure_s=-1",
                                                               "--out", str(tmp / "o")], 2, r"max_measure_s",
             owner="G"),
        Case("run/set-max-measure-inf", lambda lab, tmp: ["run", *TINY, "--set", "timing.max_measure_s=.inf",
                                                          "--out", str(tmp / "o")], 2, r"max_measure_s", owner="G"),
        Case("run/set-max-measure-1e308", lambda lab, tmp: ["run", *TINY, "--set", "timing.max_measure_s=1e308",
                                                            "--out", str(tmp / "o")], 2, r"max_measure_s", owner="G"),
        Case("run/set-no-equals", lambda lab, tmp: ["run", *TINY, "--set", "timing.samples", "--out",
                                                    str(tmp / "o")], 2, None),
        Case("run/set-empty-key", lambda lab, tmp: ["run", *TINY, "--set", "=3", "--out", str(tmp / "o")], 2, None),
        Case("run/set-alias-bomb", lambda lab, tmp: ["run", *TINY, "--set", "suites.stream.kernels=" +
                                                     "[&a [x,x,x,x,x,x,x,x], *a, *a, *a]", "--out", str(tmp / "o")],
             2, None),
        Case("run/worker-timeout-negative", lambda lab, tmp: ["run", *TINY, "--worker-timeout", "-5", "--out",
                                                              str(tmp / "o")], 2, r"worker-timeout", owner="G"),
        Case("run/dist-timeout-inf", lambda lab, tmp: ["run", *TINY, "--dist-timeout", "inf", "--out",
                                                       str(tmp / "o")], 2, r"dist-timeout", owner="G"),
        Case("run/stand-ins-negative", lambda lab, tmp: ["run", *TINY, "--stand-ins", "-2", "--out", str(tmp / "o")],
             2, r"stand-ins", owner="G"),
        Case("run/suite-missing-file", lambda lab, tmp: ["run", "--suite", str(tmp / "none.yaml"), "--device", "cpu",
                                                         "--out", str(tmp / "o")], 2, None),
        Case("check/missing-folder", lambda lab, tmp: ["check", str(tmp / "nope")], 2, r"no run\.json"),
        Case("check/a-file-not-a-folder", lambda lab, tmp: ["check", str(_replace(tmp / "x.txt", b"hello"))], 2, None),
        Case("check/non-utf8-path", lambda lab, tmp: ["check", str(tmp) + "/\udcff\udcfe"], 2, None, owner="A"),
        Case("check/traversal-path", lambda lab, tmp: ["check", str(tmp / ".." / ".." / "x")], 2, None),
        Case("check/unknown-profile", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save", "--profile",
                                                        "banana"], 2, r"no profile 'banana'"),
        Case("check/unknown-declared", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save", "--declared",
                                                         "no-such-part"], 2, None),
        Case("check/bad-rule", lambda lab, tmp: ["check", str(lab.unsigned), "--decision-rule", "lenient"], 2,
             r"invalid choice"),
        Case("check/max-relative-u-negative", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save",
                                                                "--max-relative-u", "-1"], 2, r"max-relative-u"),
        Case("check/max-relative-u-nan", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save",
                                                           "--max-relative-u", "nan"], 2, r"max-relative-u"),
        Case("check/max-relative-u-inf", lambda lab, tmp: ["check", str(lab.unsigned), "--no-save",
                                                           "--max-relative-u", "inf"], 2, r"max-relative-u"),
        Case("fleet/spread-5", lambda lab, tmp: ["fleet", *map(str, lab.lot), "--spread", "5"], 2, r"spread"),
        Case("fleet/spread-nan", lambda lab, tmp: ["fleet", *map(str, lab.lot), "--spread", "nan"], 2, r"spread"),
        Case("fleet/spread-negative", lambda lab, tmp: ["fleet", *map(str, lab.lot), "--spread", "-0.1"], 2,
             r"spread"),
        Case("fleet/spread-inf", lambda lab, tmp: ["fleet", *map(str, lab.lot), "--spread", "inf"], 2, r"spread"),
        Case("fleet/not-a-folder", lambda lab, tmp: ["fleet", str(_replace(tmp / "f", b"x"))], 2, r"not a folder"),
        Case("fleet/traversal", lambda lab, tmp: ["fleet", str(tmp / ".." / ".." / "nonexistent-x")], 2, None),
        Case("fleet/missing-manifest", lambda lab, tmp: ["fleet", *map(str, lab.lot), "--manifest",
                                                         str(tmp / "m.yaml")], 2, r"no such file"),
        Case("fleet/unknown-profile", lambda lab, tmp: ["fleet", *map(str, lab.lot), "--profile", "banana",
                                                        "--pubkey", str(lab.lab_key.public_path)], 2, None,
             owner="B"),
        Case("verify/private-key-as-pubkey", private_as_public, 2, r"this is a private key"),
        Case("verify/pubkey-missing", lambda lab, tmp: ["verify", good(lab), "--pubkey", str(tmp / "no.pub")], 2,
             r"no such file"),
        Case("verify/pubkey-garbage", lambda lab, tmp: ["verify", good(lab), "--pubkey",
                                                        file_with(tmp, b"-----BEGIN PUBLIC KEY-----\nzzzz\n")], 2,
             r"not a PEM public key"),
        Case("verify/pubkey-binary", lambda lab, tmp: ["verify", good(lab), "--pubkey",
                                                       file_with(tmp, b"\x00\xff" * 300)], 2, r"public key"),
        Case("verify/pubkey-is-a-folder", lambda lab, tmp: ["verify", good(lab), "--pubkey", str(tmp)], 2,
             r"no such file"),
        Case("verify/missing-folder", lambda lab, tmp: ["verify", str(tmp / "none")], 2, r"not a folder"),
        Case("verify/empty-folder", lambda lab, tmp: ["verify", str(tmp)], 2, r"no run\.json"),
        Case("sign/public-key-as-key", lambda lab, tmp: ["sign", str(lab.copy(lab.unsigned, tmp / "r")), "--key",
                                                         str(lab.lab_key.public_path)], 2, r"this is the public key"),
        Case("sign/key-missing", lambda lab, tmp: ["sign", str(lab.copy(lab.unsigned, tmp / "r")), "--key",
                                                   str(tmp / "none.key")], 2, r"no such file"),
        Case("sign/key-garbage", lambda lab, tmp: ["sign", str(lab.copy(lab.unsigned, tmp / "r")), "--key",
                                                   file_with(tmp, b"-----BEGIN PRIVATE KEY-----\nzz\n")], 2,
             r"not an unencrypted PEM private key"),
        Case("sign/key-binary", lambda lab, tmp: ["sign", str(lab.copy(lab.unsigned, tmp / "r")), "--key",
                                                  file_with(tmp, b"\x00\xff" * 300)], 2, r"private key"),
        Case("sign/key-world-readable", lambda lab, tmp: ["sign", str(lab.copy(lab.unsigned, tmp / "r")), "--key",
                                                          file_with(tmp, lab.lab_key.private_path.read_bytes(),
                                                                    0o644)], 2, r"too open"),
        Case("sign/missing-folder", lambda lab, tmp: ["sign", str(tmp / "none"), "--key",
                                                      str(lab.lab_key.private_path)], 2, r"not a folder"),
        Case("sign/folder-with-symlink", lambda lab, tmp: _symlinked(lab, tmp), 2, r"links or special files"),
        Case("compare/fail-on-regression-nan", lambda lab, tmp: ["compare", good(lab), good(lab),
                                                                 "--fail-on-regression", "nan"], 2, None, owner="F2"),
        Case("compare/fail-on-regression-negative", lambda lab, tmp: ["compare", good(lab), good(lab),
                                                                      "--fail-on-regression", "-5"], 2, None,
             owner="F2"),
        Case("specs/unknown-profile", lambda lab, tmp: ["specs", "--profile", "banana"], 2, r"banana"),
    ]


def _symlinked(lab, tmp) -> list[str]:
    folder = lab.copy(lab.unsigned, tmp / "r")
    (folder / "link").symlink_to("/etc/hostname")
    return ["sign", str(folder), "--key", str(lab.lab_key.private_path)]


def forged_lot_cases() -> list[Case]:
    """Forged, re-signed and incomplete evidence: the verdict of verify or fleet is asserted."""
    pub = lambda lab: ["--pubkey", str(lab.lab_key.public_path)]  # noqa: E731

    def edited_verdict_to_pass(lab, tmp):
        from conftest import judged_unit

        units = lab.copy_lot(tmp)
        fast = judged_unit(tmp / "fast", "hx-fast", "HX-FAST", speed=3.0)  # judged: fail, then signed
        _resign(fast, lab.lab_key)
        _edit_json(fast / "verdict.json", lambda v: v.__setitem__("verdict", "pass"))  # forged after signing
        return ["fleet", *map(str, units), str(fast), *pub(lab)]

    def failing_unit_relabelled(lab, tmp):
        from conftest import judged_unit

        units = lab.copy_lot(tmp)
        fast = judged_unit(tmp / "fast", "hx-fast", "HX-FAST", speed=3.0)  # judged: fail
        _edit_json(fast / "verdict.json", lambda v: v.__setitem__("verdict", "pass"))
        _resign(fast, lab.lab_key)  # an insider re-signs: numbers still do not re-derive
        return ["fleet", *map(str, units), str(fast), *pub(lab)]

    def resigned_by_forger(lab, tmp):
        units = lab.copy_lot(tmp)
        _resign(units[0], lab.forger_key)
        return ["fleet", *map(str, units), *pub(lab)]

    def resigned_no_pubkey_verify(lab, tmp):
        folder = lab.copy(lab.good, tmp / "r")
        _resign(folder, lab.forger_key)
        return ["verify", str(folder)]

    def resigned_no_pubkey_fleet(lab, tmp):
        units = lab.copy_lot(tmp)
        for unit in units:
            _resign(unit, lab.forger_key)
        return ["fleet", *map(str, units)]

    def bare_unit(lab, tmp):
        from run_factory import synthetic_run, write_run

        units = lab.copy_lot(tmp)
        bare = write_run(tmp / "bare", synthetic_run("hx-bare"))
        return ["fleet", *map(str, units), str(bare), *pub(lab)]

    def unit_disagrees(lab, tmp):
        folder = lab.copy(lab.multi, tmp / "m")
        _edit_json(folder / "units" / "u1" / "run.json",
                   lambda r: r["summary"]["effective_tpp"].__setitem__("max", 1.0))
        _resign(folder, lab.lab_key)
        return ["verify", str(folder), *pub(lab)]

    def unit_disagrees_fleet(lab, tmp):
        argv = unit_disagrees(lab, tmp)
        return ["fleet", argv[1], *pub(lab), "--profile", "us-2026-01"]

    def duplicate_key_resigned(lab, tmp):
        folder = lab.copy(lab.good, tmp / "r")
        payload = json.dumps(_statement(folder)).encode().replace(b'"run_id":', b'"run_id": "other", "run_id":', 1)
        _sign_statement(folder, lab.lab_key, payload)
        return ["verify", str(folder), *pub(lab)]

    def unsupported_algorithm(lab, tmp):
        folder = lab.copy(lab.good, tmp / "r")
        statement = _statement(folder)
        statement["predicate"]["signer"]["algorithm"] = "ecdsa-p256"
        _sign_statement(folder, lab.lab_key, statement)
        return ["verify", str(folder), *pub(lab)]

    def subject_traversal(lab, tmp):
        folder = lab.copy(lab.good, tmp / "r")
        statement = _statement(folder)
        statement["subject"].append({"name": "../../../etc/hostname", "digest": {"sha256": "0" * 64}})
        _sign_statement(folder, lab.lab_key, statement)
        return ["verify", str(folder), *pub(lab)]

    def unit_label_traversal(lab, tmp):
        folder = lab.copy(lab.multi, tmp / "m")
        _edit_json(folder / "run.json", lambda r: r["units"][0].__setitem__("run_dir", "../../../etc"))
        _resign(folder, lab.lab_key)
        return ["verify", str(folder), *pub(lab)]

    def stale_verdict(lab, tmp):
        folder = lab.copy(lab.good, tmp / "r")
        _edit_json(folder / "run.json", lambda r: r.__setitem__("status", "complete"))  # rewritten after check
        _resign(folder, lab.lab_key)
        return ["verify", str(folder), *pub(lab)]

    def stale_verdict_fleet(lab, tmp):
        argv = stale_verdict(lab, tmp)
        return ["fleet", argv[1], *map(str, lab.lot), *pub(lab)]

    def unsigned_forged_number(lab, tmp):
        units = lab.copy_lot(tmp)
        for unit in units:
            (unit / signing.SIGNATURE_FILE).unlink()
        _edit_json(units[1] / "run.json", lambda r: r["summary"]["effective_tpp"].__setitem__("max", 1.0))
        return ["fleet", *map(str, units), "--allow-unsigned"]

    def two_units_spread(lab, tmp):
        return ["fleet", *map(str, lab.lot[:2]), *pub(lab)]

    def good_lot(lab, tmp):
        return ["fleet", *map(str, lab.lot), *pub(lab), "--manifest", str(lab.manifest)]

    def good_verify(lab, tmp):
        return ["verify", str(lab.good), *pub(lab)]

    def verify_no_pubkey(lab, tmp):
        return ["verify", str(lab.good)]

    def forged_verify_allowed_unauthenticated(lab, tmp):
        folder = lab.copy(lab.good, tmp / "r")
        _edit_json(folder / "verdict.json", lambda v: v.__setitem__("verdict", "fail"))
        _resign(folder, lab.forger_key)
        return ["verify", str(folder), "--allow-unauthenticated"]

    return [
        Case("forged/verdict-edited-to-pass", edited_verdict_to_pass, 1, r"Lot result: NOT OK", "verdict"),
        Case("forged/failing-unit-verdict-pass-resigned", failing_unit_relabelled, 1,
             r"verdict: stored 'pass', recomputed 'fail'[\s\S]*Lot result: NOT OK", "verdict"),
        Case("forged/resigned-by-forger-fleet", resigned_by_forger, 1,
             r"signature: invalid for key[\s\S]*Lot result: NOT OK", "verdict"),
        Case("forged/resigned-by-forger-verify-no-pubkey", resigned_no_pubkey_verify, 1,
             r"UNAUTHENTICATED[\s\S]*VERIFICATION FAILED", "verdict"),
        Case("forged/resigned-lot-fleet-no-pubkey", resigned_no_pubkey_fleet, 3,
             r"signer not authenticated[\s\S]*Lot result: UNDECIDED", "verdict"),
        Case("forged/unit-without-verdict-signature-serial", bare_unit, 3,
             r"no verdict[\s\S]*Lot result: UNDECIDED", "verdict"),
        Case("forged/unit-file-disagrees-with-lot-verify", unit_disagrees, 1,
             r"units/u1/run\.json disagrees with the lot record", "verdict"),
        Case("forged/unit-file-disagrees-with-lot-fleet", unit_disagrees_fleet, 1, r"Lot result: NOT OK", "verdict"),
        Case("forged/duplicate-key-in-signed-statement", duplicate_key_resigned, 1, r"duplicate key 'run_id'",
             "verdict"),
        Case("forged/unsupported-key-algorithm", unsupported_algorithm, 1, r"unsupported key algorithm", "verdict"),
        Case("forged/subject-path-traversal", subject_traversal, 1, r"not a path inside the run folder", "verdict"),
        Case("forged/unit-run-dir-traversal", unit_label_traversal, 1, r"not a path inside the run folder",
             "verdict"),
        Case("forged/stale-verdict-verify", stale_verdict, 1, r"verdict\.json is stale", "verdict"),
        Case("forged/stale-verdict-fleet", stale_verdict_fleet, 1, r"Lot result: NOT OK", "verdict"),
        Case("forged/unsigned-lot-forged-number", unsigned_forged_number, 1,
             r"UNSIGNED EVIDENCE ACCEPTED[\s\S]*HX-0002: evidence does not hold[\s\S]*Lot result: NOT OK", "verdict"),
        Case("forged/forged-verdict-allow-unauthenticated", forged_verify_allowed_unauthenticated, 1,
             r"verdict: stored 'fail', recomputed 'pass'", "verdict"),
        Case("control/two-units-too-few-for-spread", two_units_spread, 0, r"too few units to judge spread", "verdict"),
        Case("control/good-lot-ok", good_lot, 0, r"Lot result: OK", "verdict"),
        Case("control/good-verify", good_verify, 0, r"VERIFIED", "verdict"),
        Case("control/verify-without-pubkey-fails", verify_no_pubkey, 1, r"UNAUTHENTICATED", "verdict"),
    ]


def all_cases() -> list[Case]:
    cases = (run_json_cases() + verdict_json_cases() + envelope_cases() + yaml_cases() + _out_cases()
             + _argument_cases() + forged_lot_cases())
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


def one_line_errors(err: str) -> list[str]:
    """stderr lines that carry a message (argparse's usage block is not one)."""
    return [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))]


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.MULTILINE)
