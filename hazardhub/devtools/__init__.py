"""Developer and operator tooling, kept out of the product path (#13).

The demo seeding (``demo*.py``), the city-scale data set (``scale.py``) and the benchmark
(``bench.py``) live here. No product module imports this package: only the CLI commands that
need it (``flask demo``, ``flask bench`` in :mod:`hazardhub.platform.cli`) import it, inside the
command functions, so serving a request or running a job never loads ~4,000 lines of seeding.
The import-linter contract "product code does not import devtools" (``[tool.importlinter]`` in pyproject.toml) holds it.
"""
