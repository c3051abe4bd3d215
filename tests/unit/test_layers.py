"""The import graph of the dovesnap package: no cycle between modules, no cycle between top-level
packages, and no arrow from a lower layer to a higher one.

The graph is read with ``ast`` (nothing is imported), so it sees every ``dovesnap`` import: at module
level, inside functions, and under ``if TYPE_CHECKING:``. Each arrow keeps the file and line it comes
from, and every failure names them.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module may import from its own layer or a lower one. A top-level name that is not
# listed (``dovesnap/__init__.py``, a ``__main__``) ranks 0 if it imports nothing of dovesnap;
# otherwise the list must be updated to say where it belongs.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "fabric_settings", "blocking"),
    ("model",),
    ("plan",),
    ("adapters",),
    ("runtime",),
    ("driver",),
    ("features",),
    ("graph",),
    ("status",),
    ("api",),
    ("tools",),
    ("daemon",),
    ("cli",),
)
RANK: Mapping[str, int] = {name: rank for rank, names in enumerate(LAYERS, 1) for name in names}


@dataclass(frozen=True)
class Arrow:
    """``source`` imports ``target``, written at ``path:line`` as ``text``."""

    source: str
    target: str
    path: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Package:
    """Every module of one package, by dotted name, with the file it lives in."""

    name: str
    files: Mapping[str, Path]
    base: Path

    @classmethod
    def read(cls, base: Path, name: str) -> Package:
        files: dict[str, Path] = {}
        for path in sorted((base / name).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
        return cls(name, files, base)

    def is_package(self, module: str) -> bool:
        return self.files[module].name == "__init__.py"

    def resolve(self, dotted: str) -> str | None:
        """The module a dotted import name loads: the longest prefix that is one of ours."""
        parts = dotted.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in self.files:
                return candidate
            parts.pop()
        return None


def _absolute(package: Package, module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    here = module.split(".") if package.is_package(module) else module.split(".")[:-1]
    base = here[: len(here) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(package: Package, module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        found = [package.resolve(alias.name) for alias in node.names]
    else:
        origin = _absolute(package, module, node)
        # ``from pkg import name`` loads the submodule pkg.name when there is one, else pkg itself
        found = [package.resolve(f"{origin}.{alias.name}") or package.resolve(origin)
                 for alias in node.names]
    return sorted({t for t in found if t is not None and t != module})


def arrows(package: Package) -> list[Arrow]:
    """Every import of one of the package's modules by another, wherever it is written."""
    found: list[Arrow] = []
    for module, path in package.files.items():
        source = path.read_text()
        shown = path.relative_to(package.base).as_posix()
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                text = ast.unparse(node)
                found += [Arrow(module, t, shown, node.lineno, text) for t in _targets(package, module, node)]
    return sorted(found, key=lambda a: (a.path, a.line, a.target))


def unit(package: Package, module: str) -> str:
    """The top-level package or module a module belongs to (``status`` for dovesnap.status.page)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else package.name


def _strongly_connected(nodes: Iterable[str], edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of nodes that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group: list[str] = []
                    while not group or group[-1] != node:
                        group.append(stack.pop())
                        on_stack.discard(group[-1])
                    groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _shortest_cycle(group: list[str], edges: Mapping[str, set[str]]) -> list[str]:
    """A shortest way around from the group's first node back to itself, staying in the group."""
    members = set(group)
    start = group[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(edges.get(node, set()) & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {group}")  # a group of two or more always has one


def cycles(found: list[Arrow], key: Mapping[str, str] | None = None,
           order: Mapping[str, int] | None = None) -> list[str]:
    """One message per group of modules that import each other in a circle: a shortest way round,
    then the imports inside the group that close it: all of them, or with ``order`` those that do not
    go strictly down it (every circle has at least one).

    With ``key``, modules are first grouped (a module -> its top-level package) and the cycles are
    between the groups."""
    def name(module: str) -> str:
        return key[module] if key is not None else module

    steps: dict[tuple[str, str], list[Arrow]] = {}
    for arrow in found:
        a, b = name(arrow.source), name(arrow.target)
        if a != b:
            steps.setdefault((a, b), []).append(arrow)
    edges: dict[str, set[str]] = {}
    for a, b in steps:
        edges.setdefault(a, set()).add(b)
    messages = []
    for group in _strongly_connected(edges, edges):
        if len(group) < 2:
            continue
        closing = sorted((arrow for (a, b), some in steps.items() if a in group and b in group
                          and (order is None or order[b] >= order[a]) for arrow in some),
                         key=lambda a: (a.path, a.line, a.target))
        messages.append(f"cycle {' -> '.join(_shortest_cycle(group, edges))}"
                        f" ({len(group)} in the circle: {', '.join(group)}):\n"
                        + "\n".join(f"  {arrow.where()}" for arrow in closing))
    return messages


def rank(package: Package, found: list[Arrow], top: str) -> int | None:
    """A top-level name's layer: its place in LAYERS, 0 when unlisted and importing nothing of ours,
    None when unlisted but importing (the list must say where it belongs)."""
    if top in RANK:
        return RANK[top]
    return None if any(unit(package, a.source) == top for a in found) else 0


def upward(package: Package, found: list[Arrow]) -> list[str]:
    """One message per import from a lower layer into a higher one."""
    messages = []
    for arrow in found:
        a, b = unit(package, arrow.source), unit(package, arrow.target)
        low, high = rank(package, found, a), rank(package, found, b)
        if low is not None and high is not None and high > low:
            messages.append(f"{arrow.where()}\n  {a} (layer {low}) imports {arrow.target} "
                            f"({b}, layer {high}), a higher layer")
    return messages


def unlisted(package: Package, found: list[Arrow]) -> list[str]:
    tops = sorted({unit(package, m) for m in package.files})
    return [f"{package.name}/{top}: imports {package.name} modules but is not in LAYERS "
            f"(first: {next(a.where() for a in found if unit(package, a.source) == top)})"
            for top in tops if rank(package, found, top) is None]


# --- the rules, on dovesnap --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dovesnap() -> tuple[Package, list[Arrow]]:
    package = Package.read(ROOT, "dovesnap")
    return package, arrows(package)


def report(messages: list[str]) -> str:
    return f"{len(messages)} found:\n" + "\n".join(messages)


def test_no_cycle_between_modules(dovesnap: tuple[Package, list[Arrow]]) -> None:
    _, found = dovesnap
    found_cycles = cycles(found)
    assert not found_cycles, report(found_cycles)


def test_no_cycle_between_top_level_packages(dovesnap: tuple[Package, list[Arrow]]) -> None:
    package, found = dovesnap
    tops = {m: unit(package, m) for m in package.files}
    order = {top: rank(package, found, top) or 0 for top in tops.values()}
    found_cycles = cycles(found, tops, order)
    assert not found_cycles, report(found_cycles)


def test_no_import_from_a_lower_layer_into_a_higher_one(dovesnap: tuple[Package, list[Arrow]]) -> None:
    package, found = dovesnap
    wrong = upward(package, found)
    assert not wrong, report(wrong)


def test_every_top_level_module_that_imports_has_a_layer(dovesnap: tuple[Package, list[Arrow]]) -> None:
    package, found = dovesnap
    missing = unlisted(package, found)
    assert not missing, report(missing)


# --- the checker itself, on a small package with each kind of mistake ---------------------------


SAMPLE = {
    "__init__.py": '"""nothing imported"""\n',
    "model/__init__.py": "",
    "model/a.py": "import os\n\n\ndef late() -> None:\n    from pkg.plan import b\n",
    "plan/__init__.py": "",
    "plan/b.py": ("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                  "    from pkg.model.a import late\n"),
    "plan/c.py": "from . import b\nfrom ..model import a\nimport pkg.plan\n",
    "extra.py": "from pkg import model\n",
}


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Package, list[Arrow]]:
    for name, text in SAMPLE.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    package = Package.read(tmp_path, "pkg")
    return package, arrows(package)


def test_imports_in_functions_under_type_checking_and_relative_ones_are_seen(
    sample: tuple[Package, list[Arrow]],
) -> None:
    _, found = sample
    assert [(a.source, a.target, a.where()) for a in found] == [
        ("pkg.extra", "pkg.model", "pkg/extra.py:1: from pkg import model"),
        ("pkg.model.a", "pkg.plan.b", "pkg/model/a.py:5: from pkg.plan import b"),
        ("pkg.plan.b", "pkg.model.a", "pkg/plan/b.py:4: from pkg.model.a import late"),
        ("pkg.plan.c", "pkg.plan.b", "pkg/plan/c.py:1: from . import b"),
        ("pkg.plan.c", "pkg.model.a", "pkg/plan/c.py:2: from ..model import a"),
        ("pkg.plan.c", "pkg.plan", "pkg/plan/c.py:3: import pkg.plan"),
    ]


def test_cycles_are_named_step_by_step(sample: tuple[Package, list[Arrow]]) -> None:
    package, found = sample
    assert cycles(found) == [
        "cycle pkg.model.a -> pkg.plan.b -> pkg.model.a (2 in the circle: pkg.model.a, pkg.plan.b):\n"
        "  pkg/model/a.py:5: from pkg.plan import b\n"
        "  pkg/plan/b.py:4: from pkg.model.a import late",
    ]
    tops = {m: unit(package, m) for m in package.files}
    assert cycles(found, tops) == [
        "cycle model -> plan -> model (2 in the circle: model, plan):\n"
        "  pkg/model/a.py:5: from pkg.plan import b\n"
        "  pkg/plan/b.py:4: from pkg.model.a import late\n"
        "  pkg/plan/c.py:2: from ..model import a",
    ]
    # in layer order, only the import that goes up closes the circle
    assert cycles(found, tops, RANK) == [
        "cycle model -> plan -> model (2 in the circle: model, plan):\n"
        "  pkg/model/a.py:5: from pkg.plan import b",
    ]


def test_upward_imports_and_unlisted_modules_are_named(sample: tuple[Package, list[Arrow]]) -> None:
    package, found = sample
    assert upward(package, found) == [
        "pkg/model/a.py:5: from pkg.plan import b\n"
        "  model (layer 2) imports pkg.plan.b (plan, layer 3), a higher layer",
    ]
    assert rank(package, found, "pkg") == 0  # the root package imports nothing: rank 0
    assert unlisted(package, found) == [
        "pkg/extra: imports pkg modules but is not in LAYERS (first: pkg/extra.py:1: from pkg import model)",
    ]
