"""Check a decoded JSON value against a TypedDict from bench.record.schema (stdlib only).

What is checked: the value's type at every typed position (int is not bool, float accepts int),
required keys, Literal values, and that every number anywhere (also inside open blocks) is finite.
Unknown keys in a closed block are *kept* by default: a run written by a build with one more field
still loads, and its signature still covers it; nothing reads a key the schema does not name.
`strict=True` refuses them; the test suite validates real runs that way so the schema cannot lag
behind the code, and the published JSON Schemas are strict in the same way.

The first problem found raises RecordError with a one-line message that names the file and the
path inside it, and never quotes the offending value (which may be huge)."""

from __future__ import annotations

import math
import sys
import types
import typing
from typing import Any, Callable, Literal, Union

if sys.version_info >= (3, 11):
    from typing import is_typeddict as is_typeddict  # re-exported for bench.record.schemagen
else:
    from typing_extensions import is_typeddict as is_typeddict

from bench.errors import RecordError

MAX_KEY_SHOWN = 40


def shown_key(key: Any) -> str:
    """A key as it may appear in a message: ASCII, bounded."""
    text = ascii(key) if not isinstance(key, str) else key.encode("ascii", "backslashreplace").decode()
    return text if len(text) <= MAX_KEY_SHOWN else text[:MAX_KEY_SHOWN] + "..."


def kind_of(value: Any) -> str:
    """The JSON kind of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def required_keys(typed_dict: type) -> frozenset[str]:
    """The keys a TypedDict class requires (type checkers do not see the attribute typing sets)."""
    keys: frozenset[str] = getattr(typed_dict, "__required_keys__")
    return keys


def _hints(typed_dict: type) -> dict[str, Any]:
    cache = _HINTS.get(typed_dict)
    if cache is None:
        cache = _HINTS[typed_dict] = typing.get_type_hints(typed_dict)
    return cache


_HINTS: dict[type, dict[str, Any]] = {}


class _Walk:
    def __init__(self, source: str, strict: bool):
        self.source = source
        self.strict = strict

    def fail(self, path: str, problem: str) -> RecordError:
        shown = path.encode("ascii", "backslashreplace").decode() or "top level"
        if len(shown) > 160:
            shown = shown[:80] + "..." + shown[-60:]
        return RecordError(f"{self.source}: {shown}: {problem}")

    def check(self, value: Any, hint: Any, path: str) -> None:
        problem = self.mismatch(value, hint, path)
        if problem:
            raise self.fail(*problem)

    def mismatch(self, value: Any, hint: Any, path: str) -> tuple[str, str] | None:
        """(path, problem) of the first mismatch, or None."""
        if hint in _SCALAR_CHECKS:
            return None if _SCALAR_CHECKS[hint](value) else self.scalar(value, hint, path)
        origin, args = _shape(hint)
        if hint is Any:
            return self.finite_anywhere(value, path)
        if origin in (Union, types.UnionType):
            return self.union(value, args, path)
        if origin is Literal:
            allowed = args
            if value in allowed and type(value) in {type(a) for a in allowed}:
                return None
            return path, f"must be one of {', '.join(map(str, allowed))}"
        if is_typeddict(hint):
            return self.typed_dict(value, hint, path)
        if origin is list:
            if not isinstance(value, list):
                return path, f"expected a list, found {kind_of(value)}"
            (item,) = args
            check = _SCALAR_CHECKS.get(item)
            if check is not None and all(check(element) for element in value):
                return None  # the common case (samples_s): one tight loop, no paths built
            for index, element in enumerate(value):
                found = self.mismatch(element, item, f"{path}[{index}]")
                if found:
                    return found
            return None
        if origin is dict:
            return self.mapping(value, args[1], path)
        return self.scalar(value, hint, path)

    def union(self, value: Any, options: tuple[Any, ...], path: str) -> tuple[str, str] | None:
        if value is None:
            return None if type(None) in options else (path, "must not be null")
        problems = [self.mismatch(value, option, path) for option in options if option is not type(None)]
        found = [p for p in problems if p is not None]
        if len(found) < len(problems):
            return None
        # Report the problem of the option that got furthest into the value.
        return max(found, key=lambda p: len(p[0]))

    def mapping(self, value: Any, item: Any, path: str) -> tuple[str, str] | None:
        if not isinstance(value, dict):
            return path, f"expected an object, found {kind_of(value)}"
        for key, element in value.items():
            if not isinstance(key, str):
                return path, f"key {shown_key(key)} is not a string"
            found = self.mismatch(element, item, f"{path}.{key}" if path else key)
            if found:
                return found
        return None

    def typed_dict(self, value: Any, typed_dict: type, path: str) -> tuple[str, str] | None:
        if not isinstance(value, dict):
            return path, f"expected an object, found {kind_of(value)}"
        hints = _hints(typed_dict)
        for required in sorted(required_keys(typed_dict)):
            if required not in value:
                return path, f"missing required key {required!r}"
        for key, element in value.items():
            if not isinstance(key, str):
                return path, f"key {shown_key(key)} is not a string"
            where = f"{path}.{key}" if path else key
            if key not in hints:
                if self.strict:
                    return where, f"unknown key (not in {typed_dict.__name__})"
                found = self.finite_anywhere(element, where)
            else:
                found = self.mismatch(element, hints[key], where)
            if found:
                return found
        return None

    @staticmethod
    def scalar(value: Any, hint: Any, path: str) -> tuple[str, str] | None:
        if hint is type(None):
            return None if value is None else (path, f"expected null, found {kind_of(value)}")
        if hint is bool:
            ok = isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif hint is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and not math.isfinite(value):
                return path, "not a finite number"
        elif hint is str:
            ok = isinstance(value, str)
        else:
            raise TypeError(f"bench.record.validate cannot check {hint!r}")
        return None if ok else (path, f"expected {_NAMES[hint]}, found {kind_of(value)}")

    @staticmethod
    def finite_anywhere(value: Any, path: str) -> tuple[str, str] | None:
        """Every float inside `value` is finite (iterative: open blocks may be deep). Paths are
        built only once a non-finite number is known to be there."""
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, float):
                if not math.isfinite(item):
                    break
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        else:
            return None
        stack = [(value, path)]
        while stack:
            item, where = stack.pop()
            if isinstance(item, float) and not math.isfinite(item):
                return where, "not a finite number"
            if isinstance(item, dict):
                stack.extend((v, f"{where}.{shown_key(k)}") for k, v in item.items())
            elif isinstance(item, list):
                stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        return None


_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_SCALAR_CHECKS: dict[type, Callable[[Any], bool]] = {
    bool: lambda v: v.__class__ is bool,
    int: lambda v: isinstance(v, int) and v.__class__ is not bool,
    float: lambda v: (v.__class__ is float and math.isfinite(v)) or (isinstance(v, int) and v.__class__ is not bool),
    str: lambda v: isinstance(v, str),
}
_SHAPES: dict[Any, tuple[Any, tuple[Any, ...]]] = {}


def _shape(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """(typing origin, args) of a hint, cached: the walk asks for the same hints many times."""
    try:
        return _SHAPES[hint]
    except KeyError:
        _SHAPES[hint] = found = (typing.get_origin(hint), typing.get_args(hint))
        return found
    except TypeError:  # an unhashable hint
        return typing.get_origin(hint), typing.get_args(hint)


def validate(value: Any, typed_dict: type, source: str, *, strict: bool = False) -> None:
    """Raise RecordError naming `source` and the path of the first problem; return None when valid."""
    _Walk(source, strict).check(value, typed_dict, "")


def problems(value: Any, typed_dict: type, *, strict: bool = False) -> str | None:
    """The first problem as text, or None: for tests and tools that want a yes/no answer."""
    try:
        validate(value, typed_dict, "value", strict=strict)
    except RecordError as exc:
        return str(exc)
    return None
