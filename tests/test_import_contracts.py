"""The import contracts (``[tool.importlinter]`` in pyproject.toml) hold, so CI enforces them (#13).

``lint-imports`` runs in a subprocess over the worktree (the contracts: hazardhub never imports
worker; the ground floor imports nothing above it; no product module imports
``hazardhub.devtools`` — the CLI's command functions being the one ignored door). The contracts
name modules one by one, so a second test fails when a new top-level module is missing from them
(it would otherwise sit outside every contract).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib

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
