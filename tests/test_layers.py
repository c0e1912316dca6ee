"""The layers run one way: the runtime (streaming/) needs only the bundle; export/ and training/ build on it.

Checked twice: statically (no module of a lower layer names a higher one, even inside a function) and by
importing every runtime module in a fresh interpreter (nothing of training, export or TensorFlow gets loaded).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Which top-level packages each layer may import from the project (besides itself).
ALLOWED = {
    "streaming": set(),
    "export": {"streaming"},
    "training": {"streaming", "export"},
    "dashboard": {"streaming"},
}
PROJECT = {"streaming", "export", "training", "dashboard", "bench", "demo_app", "actionstream"}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages a module imports anywhere in its body (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_module_imports_upward(layer):
    folder = REPO / layer
    if not folder.is_dir():
        pytest.skip(f"{layer}/ not in this checkout")
    bad = {}
    for path in sorted(folder.rglob("*.py")):
        wrong = imported_packages(path) - ALLOWED[layer] - {layer}
        if wrong:
            bad[str(path.relative_to(REPO))] = sorted(wrong)
    assert not bad, f"modules importing a layer above or beside them: {bad}"


def test_runtime_imports_nothing_of_training_export_or_tensorflow():
    modules = sorted(f"streaming.{p.stem}" for p in (REPO / "streaming").glob("*.py") if p.stem != "__main__")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('training', 'export', 'tensorflow', 'keras', 'tf2onnx', 'onnx'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"the runtime pulled in: {out.stdout.strip()}"
