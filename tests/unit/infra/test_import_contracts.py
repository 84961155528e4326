"""The layering contracts of pyproject.toml ([tool.importlinter], run by `make lint`) hold, and would catch a
domain module that imports a server client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first on sys.path: the analysed `flockwatch` is the one under source_root.
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(REPO / "services")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


def test_a_graph_module_importing_kafka_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(REPO / "services" / "flockwatch", tmp_path / "flockwatch",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (tmp_path / "flockwatch" / "graph" / "planted.py").write_text(
        '"""A graph algorithm that talks to the broker: what the contract forbids."""\n\nimport kafka\n'
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Core, domain and stages import no I/O library BROKEN" in result.stdout
    assert "flockwatch.graph.planted -> kafka" in result.stdout
