"""The import contracts (``[tool.importlinter]`` in pyproject.toml) hold, so CI enforces them (#13).

``lint-imports`` runs in a subprocess over the worktree (the contracts: hazardhub never imports
worker; the ground floor imports nothing above it; no product module imports
``hazardhub.devtools`` — the CLI's command functions being the one ignored door). The contracts
name modules one by one, so a second test fails when a new top-level module is missing from them
(it would otherwise sit outside every contract).
"""
from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path

from hazardhub import ROOT

CONFIG = ROOT / "pyproject.toml"


def _contract(contract_id: str) -> dict:
    with CONFIG.open("rb") as file:
        contracts = tomllib.load(file)["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == contract_id)


def _top_level_modules() -> set[str]:
    """Every module and package directly under ``hazardhub/``."""
    names = set()
    for path in (ROOT / "hazardhub").iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            names.add(f"hazardhub.{path.stem}")
        elif path.is_dir() and (path / "__init__.py").exists():
            names.add(f"hazardhub.{path.name}")
    return names


def test_lint_imports_keeps_every_contract():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--config", str(CONFIG), "--no-cache"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_contracts_name_every_top_level_module():
    everything = _top_level_modules()
    floor = set(_contract("ground-floor")["source_modules"])
    above = set(_contract("ground-floor")["forbidden_modules"]) - {"worker"}
    assert floor | above == everything, sorted(everything ^ (floor | above))
    assert not floor & above
    product = set(_contract("no-devtools")["source_modules"]) - {"worker"}
    assert product == everything - {"hazardhub.devtools"}, sorted(product ^ (everything - {"hazardhub.devtools"}))


# ---------------------------------------------------------------------------------------------
# no import cycles, and no function-level import without a reason (import-linter has neither)

#: the import cycles that remain until the other #13 branches are merged, each named by its exact
#: modules; a cycle may shrink or go, never grow or appear. The coordinator empties this after the
#: merge of the policy (pol), domain-data (dom) and audit (perf) work.
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()

#: function-level imports of hazardhub modules without a comment, in files other #13 branches
#: restructure (policy: pol; audit, bench, scale: perf; views: v1/v2; orgs.operations: pol/dom),
#: by file and statement; none may be added. The coordinator empties this after the merge.
KNOWN_LAZY_IMPORTS: dict[str, set[str]] = {}


def _graph():
    import grimp

    # type-only imports (``if TYPE_CHECKING:``) never run; import-linter is told the same
    return grimp.build_graph("hazardhub", "worker", cache_dir=None, exclude_type_checking_imports=True)


def _import_cycles(graph) -> list[set[str]]:
    """The strongly connected components (Tarjan) of more than one hazardhub module."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] == "hazardhub")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(start: str) -> None:
        # iterative, so a long import chain cannot hit the recursion limit
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            for child in children:
                if not child.startswith("hazardhub"):
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[module] = min(low[module], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(component)

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_among_hazardhub_modules():
    graph = _graph()
    new = [sorted(cycle) for cycle in _import_cycles(graph) if not any(cycle <= known for known in KNOWN_CYCLES)]
    detail = []
    for cycle in new:
        for importer in cycle:
            for imported in sorted(graph.find_modules_directly_imported_by(importer) & set(cycle)):
                lines = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                detail.append(f"  {importer} -> {imported} (line {', '.join(map(str, lines))})")
    assert not new, "import cycle (move the shared code down a layer):\n" + "\n".join(detail)


def test_the_cycle_finder_finds_a_cycle():
    import grimp

    graph = grimp.ImportGraph()
    for a, b in [("hazardhub.a", "hazardhub.b"), ("hazardhub.b", "hazardhub.c"), ("hazardhub.c", "hazardhub.a"),
                 ("hazardhub.c", "hazardhub.d"), ("hazardhub.d", "hazardhub.e")]:
        graph.add_import(importer=a, imported=b)
    assert _import_cycles(graph) == [{"hazardhub.a", "hazardhub.b", "hazardhub.c"}]


def _comment_lines(source: str) -> set[int]:
    return {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT}


def _imported_module(path: Path, node: ast.ImportFrom | ast.Import, root: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not node.level:
        return [node.module or ""]
    package = path.relative_to(root).with_suffix("").parts[:-1]
    base = package[:len(package) - (node.level - 1)]
    return [".".join(base + ((node.module,) if node.module else ()))]


def uncommented_function_imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, statement)`` of each import of a hazardhub module written inside a function with
    no comment saying why: a comment on its line or the line before, or it continues a run of
    imports whose first one has that comment."""
    source = path.read_text(encoding="utf-8")
    comments = _comment_lines(source)
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        imports = sorted((n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))),
                         key=lambda n: n.lineno)
        covered: dict[int, bool] = {}  # end line of an import → whether it is explained
        for node in imports:
            said = (comments & set(range(node.lineno - 1, node.end_lineno + 1))) \
                or covered.get(node.lineno - 1, False)
            covered[node.end_lineno] = bool(said)
            modules = _imported_module(path, node, root)
            if not said and any(m == "hazardhub" or m.startswith("hazardhub.") for m in modules):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_lazy_import_check_reads_comments_and_runs(tmp_path):
    module = tmp_path / "hazardhub" / "area" / "thing.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "def f():\n"
        "    from hazardhub.a import x\n"
        "    import json\n"
        "    # the reason\n"
        "    from hazardhub.b import y\n"
        "    from hazardhub.c import z\n"
        "\n"
        "    from . import sibling\n"
        "    from hazardhub.d import w  # reason\n"
        "    s = 1\n"
        "    s = '# not a comment'; from hazardhub.e import v\n", encoding="utf-8")
    assert uncommented_function_imports(module, tmp_path) == [
        (2, "from hazardhub.a import x"), (8, "from . import sibling"), (11, "from hazardhub.e import v")]


def test_every_function_level_import_says_why():
    new = []
    for path in sorted([*(ROOT / "hazardhub").rglob("*.py"), *(ROOT / "worker").rglob("*.py")]):
        name = path.relative_to(ROOT).as_posix()
        allowed = KNOWN_LAZY_IMPORTS.get(name, set())
        new += [f"{name}:{line}: {statement}" for line, statement in uncommented_function_imports(path)
                if statement not in allowed]
    assert not new, ("move these imports to module level, or say why on the line (or the line before):\n"
                     + "\n".join(new))


def test_every_module_of_every_area_is_in_a_layer():
    """A new module in an area must be placed in the layers contract, or it sits outside it."""
    contract = _contract("area-layers")
    tails = {tail.strip(" ()") for layer in contract["layers"] for tail in layer.split(":")}
    unplaced = []
    for container in contract["containers"]:
        folder = ROOT / Path(*container.split("."))
        for path in folder.iterdir():
            tail = path.stem if path.suffix == ".py" else path.name
            if path.name == "__init__.py" or path.name == "__pycache__" or path.name.startswith("."):
                continue
            if (path.suffix == ".py" or (path / "__init__.py").exists()) and tail not in tails:
                unplaced.append(f"{container}.{tail}")
    assert not unplaced, unplaced
    areas = {f"hazardhub.{p.name}" for p in (ROOT / "hazardhub").iterdir()
             if (p / "views.py").exists() or (p / "operations.py").exists()}
    assert areas - {"hazardhub.platform"} <= set(contract["containers"]), sorted(areas - set(contract["containers"]))
