"""Execution providers: CUDA only when it really loads; on a machine without it, one clear line and CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tiny_models import REPO, error_lines, run_cli, shared, smallcnn_bundle

from streaming.errors import ProviderError
from streaming.providers import choose_providers, cuda_unavailable_reason

no_cuda = pytest.mark.skipif(cuda_unavailable_reason() is None, reason="CUDA works on this machine")


@pytest.fixture(scope="session")
def smallcnn(tmp_path_factory):
    return shared("smallcnn", tmp_path_factory, smallcnn_bundle)[1]


def test_cpu_is_cpu():
    assert choose_providers("cpu").providers == ("CPUExecutionProvider",)


def test_unknown_device():
    with pytest.raises(ProviderError, match="unknown device"):
        choose_providers("tpu")


@no_cuda
def test_auto_falls_back_to_cpu_and_says_why():
    choice = choose_providers("auto")
    assert choice.providers == ("CPUExecutionProvider",) and "CUDA" in choice.reason


@no_cuda
def test_cuda_requested_without_cuda_fails_clearly(smallcnn):
    from export.verify import verify_bundle

    with pytest.raises(ProviderError) as err:
        choose_providers("cuda")
    assert "\n" not in str(err.value) and "cuda" in str(err.value).lower()
    with pytest.raises(ProviderError):
        verify_bundle(smallcnn, device="cuda")
    r = run_cli("verify", smallcnn, "--device", "cuda")
    assert r.returncode == 2 and len(error_lines(r.stderr)) == 1 and "Traceback" not in r.stderr


@no_cuda
def test_auto_sessions_run_on_cpu_with_one_line(smallcnn):
    """Two sessions on --device auto: both on CPU, one line on stderr, none of ORT's red CUDA errors."""
    code = (
        "import logging, sys; logging.basicConfig(format='%(message)s');"
        "from streaming.providers import create_session;"
        f"a = create_session({str(smallcnn / 'extractor.onnx')!r});"
        f"b = create_session({str(smallcnn / 'extractor.onnx')!r});"
        "print(a.get_providers(), b.get_providers())"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['CPUExecutionProvider'] ['CPUExecutionProvider']"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "CPU" in lines[0] and "CUDA" in lines[0], r.stderr


@no_cuda
def test_verify_auto_reports_cpu(smallcnn):
    r = run_cli("verify", smallcnn, "--json")
    assert r.returncode == 0
    assert '"providers": {"extractor": "CPUExecutionProvider"}' in r.stdout.splitlines()[-1]
    assert len([line for line in r.stderr.splitlines() if "CPU" in line]) == 1
