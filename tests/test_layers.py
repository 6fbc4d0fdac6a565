"""The package's import graph runs one way: each module imports only its own top-level
folder (or module) and the layers below it, as docs/architecture.md states them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "sonicmotion"


def stated_layers() -> list[set[str]]:
    """The numbered layer lines of docs/architecture.md, lowest first: the backticked
    top-level names on each (``__init__`` is the package root)."""
    layers = []
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\d+)\. \*\*[^*]+\*\*:? (.*)$", line.strip())
        if match:
            assert int(match.group(1)) == len(layers) + 1, f"layers out of order at {line!r}"
            layers.append(set(re.findall(r"`([A-Za-z_]+)/?`", match.group(2).split(" — ")[0])))
    return layers


def unit_of(module: str) -> str:
    """The top-level name under sonicmotion a dotted module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(package: Path = PACKAGE, submodules_only: bool = False) -> dict[str, set[str]]:
    """Every module's sonicmotion imports (top-level and inside functions), absolute names;
    ``submodules_only``: ``from package import a, b`` of modules names only ``a`` and ``b``
    (the package's ``__init__`` is already loading when its own modules import each other)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        home = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = found.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = home.split(".")[: len(home.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] == "sonicmotion":
                    # ``from sonicmotion import cli`` names a module, not an attribute
                    modules = {f"{target}.{a.name}" for a in node.names
                               if (package.parent / f"{target}.{a.name}".replace(".", "/")).is_dir()
                               or (package.parent / (f"{target}.{a.name}".replace(".", "/") + ".py")).is_file()}
                    if not (submodules_only and len(modules) == len(node.names)):
                        targets.add(target)
                    targets.update(modules)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == "sonicmotion")
    return found


def test_every_top_level_name_has_one_stated_layer():
    layers = stated_layers()
    assert len(layers) >= 5, "docs/architecture.md lists no layers"
    named = [name for layer in layers for name in layer]
    assert len(named) == len(set(named)), "a name is in two layers"
    present = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
               if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file()))}
    assert present == set(named), f"unplaced: {sorted(present - set(named))}, stale: {sorted(set(named) - present)}"


def wrong_imports(graph: dict[str, set[str]], layers: list[set[str]]) -> list[str]:
    """``"module -> target"`` for each import of a unit in the same or a higher layer."""
    level = {name: i for i, layer in enumerate(layers) for name in layer}
    wrong = []
    for module, targets in graph.items():
        source = unit_of(module)
        for target in targets:
            unit = unit_of(target)
            if unit != source and level[unit] >= level[source]:
                wrong.append(f"{module} -> {target}")
    return sorted(wrong)


def test_no_module_imports_from_a_layer_above_or_beside_it():
    wrong = wrong_imports(imports(), stated_layers())
    assert not wrong, "imports that run upward or across a layer:\n" + "\n".join(wrong)


def test_the_check_finds_upward_imports_inside_functions_and_relative_ones(tmp_path):
    package = tmp_path / "sonicmotion"
    for folder in ("spatial", "cli", "data"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "spatial" / "io.py").write_text("def f():\n    from ..cli import main\n")
    (package / "data" / "shards.py").write_text("from sonicmotion.spatial import io\nimport sonicmotion.data\n")
    (package / "cli" / "main.py").write_text("from sonicmotion import data\nfrom sonicmotion.data import shards\n")
    layers = [{"__init__"}, {"spatial"}, {"data"}, {"cli"}]
    upward = ["sonicmotion.spatial.io -> sonicmotion.cli", "sonicmotion.spatial.io -> sonicmotion.cli.main"]
    assert wrong_imports(imports(package), layers) == upward
    assert wrong_imports(imports(package), [{"__init__"}, {"spatial", "data"}, {"cli"}]) == [
        "sonicmotion.data.shards -> sonicmotion.spatial", "sonicmotion.data.shards -> sonicmotion.spatial.io", *upward]


def folder_of(module: str, package: Path = PACKAGE) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    is_package = (package.parent / module.replace(".", "/")).is_dir()
    return module if is_package else module.rpartition(".")[0]


def folder_cycles(graph: dict[str, set[str]], package: Path = PACKAGE) -> list[str]:
    """``"a -> b -> a"`` for each import cycle among the modules of one folder (imports
    inside functions count: they still tie the two modules together)."""
    def module_of(target: str) -> str:
        parts = target.split(".")
        while parts and ".".join(parts) not in graph:
            parts.pop()
        return ".".join(parts)

    edges = {m: sorted({module_of(t) for t in targets} - {m, ""}) for m, targets in graph.items()}
    edges = {m: [t for t in ts if folder_of(t, package) == folder_of(m, package)] for m, ts in edges.items()}
    cycles, done = [], set()
    for start in sorted(edges):  # each cycle once, from its first module in sorted order
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for target in edges[node]:
                if target == start:
                    cycles.append(" -> ".join(path + [start]))
                elif target not in path and target not in done and target > start:
                    stack.append((target, path + [target]))
        done.add(start)
    return sorted(set(cycles))


def test_no_import_cycles_between_modules_of_one_folder():
    cycles = folder_cycles(imports(submodules_only=True))
    assert not cycles, "import cycles inside a folder:\n" + "\n".join(cycles)


def test_the_cycle_check_finds_function_level_and_package_cycles(tmp_path):
    package = tmp_path / "sonicmotion"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("from sonicmotion.data.shards import write\n"
                                                  "from sonicmotion.data.synth import tone\n")
    (package / "data" / "shards.py").write_text("def write():\n    from .index import Index\n")
    (package / "data" / "index.py").write_text("from sonicmotion.data.loader import load\n")
    (package / "data" / "loader.py").write_text("def load():\n    from sonicmotion.data import shards\n")
    (package / "data" / "builder.py").write_text("from sonicmotion.data import shards, index\n")
    (package / "data" / "synth.py").write_text("from sonicmotion.data import write\n")  # a name of __init__
    assert folder_cycles(imports(package, submodules_only=True), package) == [
        "sonicmotion.data -> sonicmotion.data.synth -> sonicmotion.data",
        "sonicmotion.data.index -> sonicmotion.data.loader -> sonicmotion.data.shards -> sonicmotion.data.index",
    ]
    # Modules imported from their package (loader, builder: shards, index) tie to those modules only.
    (package / "data" / "index.py").write_text("")
    (package / "data" / "synth.py").write_text("from sonicmotion.data.shards import write\n")
    assert folder_cycles(imports(package, submodules_only=True), package) == []
