"""The one YAML reader refuses hostile input with one line, quickly, and bounded numbers are bounded."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.yamlfile import MAX_BYTES, bounded_number, parse_yaml, read_yaml


def alias_bomb(levels: int = 9) -> str:
    """The classic "billion laughs": each level holds nine aliases of the one before."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_its_first_alias():
    text = alias_bomb()
    assert len(text) < 700  # nine levels of nine: 9**9 = 387 million strings if it were expanded
    with pytest.raises(ConfigError, match=r"bomb.yaml: line 2: YAML aliases \(\*name\) are not accepted"):
        parse_yaml(text, "bomb.yaml")


HOSTILE = {
    "duplicate key": ("a: 1\nb: 2\na: 3\n", "line 3: duplicate key 'a'"),
    "integer key": ("1: x\n", "a key of type int"),
    "yes/no key": ("on: x\n", "a key of type bool"),
    "merge key": ("base: {x: 1}\nother:\n  <<: {x: 2}\n", "merge keys"),
    "deep flow": ("[" * 10_000, "nest"),  # libyaml stops this one itself ("maximum nesting depth")
    "fairly deep flow": ("[" * 70 + "]" * 70, "nested deeper than 64"),
    "deep block": ("a:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(80)), "nested deeper than 64"),
    "python tag": ("a: !!python/object/apply:os.system ['true']\n", "malformed YAML"),
    "huge integer": ("a: " + "9" * 6000 + "\n", "a value YAML cannot hold"),
    "syntax": ("a: [1, 2\n", "malformed YAML"),
    "a list": ("- 1\n- 2\n", "top level is a list"),
    "a scalar": ("just text\n", "top level is a str"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_yaml_is_one_config_error(tmp_path, name):
    text, fragment = HOSTILE[name]
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        read_yaml(path, "suite")
    message = str(excinfo.value)
    assert fragment in message and message.startswith(f"suite {path}") and "\n" not in message, message
    assert len(message) < 300


@pytest.mark.parametrize("content, fragment", [
    (b"a: 1\x00\n", "binary content"),
    (b"a: caf\xe9\n", "not UTF-8 text (invalid byte at offset 6)"),
])
def test_binary_and_non_utf8_files_are_refused(tmp_path, content, fragment):
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        read_yaml(path)


def test_a_huge_file_is_refused_without_parsing_it(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: '" + b"x" * (MAX_BYTES + 10) + b"'\n")
    with pytest.raises(ConfigError, match="larger than"):
        read_yaml(path)


def test_missing_file_and_folder_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_yaml(tmp_path / "nope.yaml", "plan")
    with pytest.raises(ConfigError, match="is a folder"):
        read_yaml(tmp_path)


def test_ordinary_yaml_still_reads():
    assert parse_yaml("a: {b: [1, 2.5, x]}\nc: null\n", "t", mapping=True) == {"a": {"b": [1, 2.5, "x"]}, "c": None}
    assert parse_yaml("[bf16, fp32]", "--set") == ["bf16", "fp32"]  # --set values need not be mappings
    assert parse_yaml("", "empty", mapping=True) is None  # the caller says what an empty file lacks
    assert parse_yaml("a: &x 1\n", "anchor only") == {"a": 1}  # an anchor without an alias is harmless


def test_a_manifest_may_be_a_bare_list(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("- SN1\n- SN2\n")
    assert read_yaml(path, mapping=False) == ["SN1", "SN2"]


# --- bounded numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, fragment", [
    (float("inf"), "expected a finite number"),
    (float("nan"), "expected a finite number"),
    (1e308, "outside [1, 1e+06]"),
    (10**20, "a number that large is outside"),
    (-1, "-1 is outside"),
    (True, "found bool"),
    ("10", "found str"),
    (None, "found NoneType"),
    (2.5, "expected an integer, found a fraction"),
])
def test_bounded_number_refuses(value, fragment):
    with pytest.raises(ConfigError) as excinfo:
        bounded_number(value, 1, 1_000_000, "suite.yaml: timing.samples", integer=True)
    assert fragment in str(excinfo.value) and str(excinfo.value).startswith("suite.yaml: timing.samples: ")


def test_bounded_number_accepts_and_normalises():
    assert bounded_number(10, 1, 100, "x", integer=True) == 10
    assert bounded_number(10.0, 1, 100, "x", integer=True) == 10
    assert isinstance(bounded_number(10.0, 1, 100, "x", integer=True), int)
    assert bounded_number(0.5, 0, 1, "x") == 0.5
