"""JSON Schemas (draft 2020-12) generated from the TypedDicts of bench.record.schema and
bench.record.inputs, published under docs/schema/.

    python -m bench.record.schemagen            # rewrite docs/schema/*.schema.json
    python -m bench.record.schemagen --check    # exit 1 when a committed file differs

Closed blocks (TypedDicts) get `additionalProperties: false`; `dict[str, X]` becomes an object of
X; `dict[str, Any]` an open object. JSON Schema cannot express "finite" (JSON has no NaN anyway).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from bench.record import inputs, schema
from bench.record.validate import is_typeddict, required_keys

BASE_ID = "https://accelbench.invalid/schema"
DOCUMENTS: dict[str, tuple[type, str]] = {
    "run": (schema.Run, "An accelbench run.json"),
    "verdict": (schema.Verdict, "An accelbench verdict.json (bench check)"),
    "plan": (inputs.PlanFile, "An accelbench test plan (YAML; validate its JSON form)"),
    "suite-config": (inputs.SuiteConfigFile, "An accelbench suite config (YAML; validate its JSON form)"),
    "device-spec": (inputs.DeviceSpecFile, "An accelbench device spec file (YAML; validate its JSON form)"),
    "profile": (inputs.ProfileFile, "An accelbench threshold profile (YAML; validate its JSON form)"),
}
DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "docs" / "schema"
SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


class _Generator:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def of(self, hint: Any) -> dict[str, Any]:
        origin = typing.get_origin(hint)
        if hint is Any:
            return {}
        if hint in SCALARS:
            return {"type": SCALARS[hint]}
        if origin is Literal:
            return {"enum": list(typing.get_args(hint))}
        if origin in (Union, types.UnionType):
            return self.union(typing.get_args(hint))
        if origin is list:
            return {"type": "array", "items": self.of(typing.get_args(hint)[0])}
        if origin is dict:
            value = typing.get_args(hint)[1]
            return {"type": "object"} if value is Any else {"type": "object", "additionalProperties": self.of(value)}
        if is_typeddict(hint):
            return self.ref(hint)
        raise TypeError(f"no JSON Schema for {hint!r}")

    def union(self, options: tuple[Any, ...]) -> dict[str, Any]:
        if all(option in SCALARS for option in options):
            return {"type": [SCALARS[option] for option in options]}
        return {"anyOf": [self.of(option) for option in options]}

    def ref(self, typed_dict: type) -> dict[str, Any]:
        name = typed_dict.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder first: definitions may be recursive
            self.defs[name] = self.object(typed_dict)
        return {"$ref": f"#/$defs/{name}"}

    def object(self, typed_dict: type) -> dict[str, Any]:
        hints = typing.get_type_hints(typed_dict)
        out: dict[str, Any] = {"type": "object"}
        doc = (typed_dict.__doc__ or "").strip()
        if doc and not doc.startswith(f"{typed_dict.__name__}("):  # TypedDict's generated docstring
            out["description"] = " ".join(doc.split())
        out["properties"] = {key: self.of(hint) for key, hint in hints.items()}
        required = sorted(required_keys(typed_dict))
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        return out


def generate(name: str) -> dict[str, Any]:
    root, title = DOCUMENTS[name]
    generator = _Generator()
    generator.ref(root)
    document: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE_ID}/{name}.schema.json",
        "title": title,
    }
    if name in ("run", "verdict"):
        document["description"] = f"schema_version {schema.SCHEMA_VERSION}; generated from bench/record/schema.py"
    else:
        document["description"] = "generated from bench/record/inputs.py"
    document["$ref"] = f"#/$defs/{root.__name__}"
    document["$defs"] = dict(sorted(generator.defs.items()))
    return document


def text_of(name: str) -> str:
    return json.dumps(generate(name), indent=2, ensure_ascii=False) + "\n"


def file_name(name: str) -> str:
    return f"{name}.schema.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.record.schemagen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--out", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    stale = []
    for name in DOCUMENTS:
        path = args.out / file_name(name)
        text = text_of(name)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python -m bench.record.schemagen): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
