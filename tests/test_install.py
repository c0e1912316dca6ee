"""A non-editable install works: the bundled models come along as package data and are found from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_installed_package_finds_its_bundled_models(tmp_path):
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target"]
    out = subprocess.run([*pip, str(target), str(REPO)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    code = (
        "import actionstream, streaming, streaming.demo as d\n"
        "from streaming.bundle import load_bundle\n"
        "assert str(target) in streaming.__file__, streaming.__file__\n"
        "root = d.default_bundle_path()\n"
        "assert str(target) in str(root), root\n"
        "print(load_bundle(root).manifest.labels[0], d.demo_clip_path().name)\n"
    ).replace("str(target)", repr(str(target)))
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[1] == "demo.avi"
