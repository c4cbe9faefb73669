"""The import structure as an executable rule: no cycles, no function-level imports of the project's
own modules, and every import points down the layer order below, which is the package tree
(docs/design.md, "The tree is the pipeline", names the same layers in the same order: a test checks).

Layers, lowest first. A module may import modules of its own layer or of a lower one, never of a
higher one. Read bottom-up, the tree is the pipeline: the record, the analysis and rules that derive
from it, the devices, measuring, the evidence that re-checks a run, lab orchestration, presentation,
and the command line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("record", ("bench", "bench.errors", "bench.yamlfile", "bench.render", "bench.record", "bench.record.*")),
    ("analysis", ("bench.analysis", "bench.analysis.*")),
    ("rules", ("bench.rules", "bench.rules.*")),
    ("devices", ("bench.devices", "bench.devices.*")),
    ("measure", ("bench.measure", "bench.measure.*", "bench.kernels", "bench.kernels.*", "bench.configs")),
    ("evidence", ("bench.evidence", "bench.evidence.*")),
    ("lab", ("bench.lab", "bench.lab.*")),
    ("present", ("bench.present", "bench.present.*")),
    ("cli", ("bench.cli", "bench.cli.*", "bench.__main__")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("kernels", "configs"):
        parts = ["bench", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [*ROOT.joinpath("bench").rglob("*.py"), *ROOT.joinpath("kernels").rglob("*.py"),
             *ROOT.joinpath("configs").rglob("*.py")]
    return {module_name(path): path for path in files}


MODULES = project_modules()


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1])):
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def resolve(name: str) -> str | None:
    """The project module an import names (`bench.x.y` may be a module or a name inside `bench.x`)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                continue  # annotations only, never executed
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [f"{child.module}.{alias.name}" for alias in child.names]
            else:
                visit(child, nested)
                continue
            for name in names:
                target = resolve(name)
                if target:
                    found.append((target, child.lineno, in_function))

    visit(tree, False)
    return found


GRAPH = {module: imports(path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_function_level_imports_of_project_modules():
    offenders = [f"{MODULES[m].relative_to(ROOT)}:{line}: {target}" for m, edges in GRAPH.items()
                 for target, line, in_function in edges if in_function]
    assert offenders == [], "import these at the top of the module (lazy imports are for heavy third-party " \
                            "libraries only):\n" + "\n".join(offenders)


def test_imports_point_down_the_layers():
    upward = []
    for module, edges in GRAPH.items():
        for target, line, _ in edges:
            if target != module and layer_of(target) > layer_of(module) and not target.startswith(module + "."):
                upward.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {module} "
                              f"({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert upward == [], "\n".join(upward)


def test_no_import_cycles():
    edges = {m: {t for t, _, _ in e if t != m and not t.startswith(m + ".")} for m, e in GRAPH.items()}
    cycles = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                walk(target, stack + [target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            walk(module, [module])
    assert cycles == [], "\n".join(cycles)


def test_the_layer_test_sees_a_violation_when_there_is_one(tmp_path):
    """The walker is not vacuous: a function-level import and an upward import are both found."""
    sample = tmp_path / "sample.py"
    sample.write_text("from bench import cli\n\ndef f():\n    from bench import errors\n")
    found = imports(sample)
    assert ("bench.cli", 1, False) in found and ("bench.errors", 4, True) in found


def documented_layers() -> list[tuple[str, str]]:
    """(layer, packages cell) for each row of docs/design.md's "The tree is the pipeline" table."""
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = design.split("## The tree is the pipeline", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| layer")]
    return [(name.strip(), packages) for name, packages in rows]


def folder(pattern: str) -> str:
    """bench.analysis.* -> bench/analysis/ (the suites install from kernels/)."""
    name = pattern.removesuffix(".*")
    return "kernels/" if name == "bench.kernels" else name.replace(".", "/") + "/"


def test_design_md_names_every_layer_in_order_with_its_packages():
    rows = documented_layers()
    assert [name for name, _ in rows] == [name for name, _ in LAYERS]
    for (name, packages), (_, patterns) in zip(rows, LAYERS):
        for pattern in patterns:
            if pattern.endswith(".*"):
                assert f"`{folder(pattern)}`" in packages, f"docs/design.md's {name} row does not name {folder(pattern)}"


def test_every_package_is_installed_and_says_what_it_holds():
    """A package missing from pyproject's `packages` is absent from a non-editable install."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"([\w.]+)"', re.search(r"^packages = \[(.*?)\]", text, re.M | re.S).group(1)))
    packages = {module for module, path in MODULES.items() if path.name == "__init__.py"}
    assert packages == listed
    undocumented = [m for m in sorted(packages) if not ast.get_docstring(ast.parse(MODULES[m].read_text("utf-8")))]
    assert undocumented == [], "say in a docstring what these packages hold: " + ", ".join(undocumented)
