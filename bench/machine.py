"""What the figures were measured on: CPU, cores, provider, library versions, load, and the CPU's own limit.

Benchmarks on a shared 2-core machine mean nothing without this, so every run prints it first.

    m = describe_machine("auto")
    print(format_machine(m))
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

#: Distributions whose versions change the figures (read from metadata: nothing is imported).
VERSIONED = ("numpy", "onnxruntime-gpu", "onnxruntime", "opencv-python", "tensorflow", "keras", "tf2onnx", "onnx")
#: CPU flags that decide which int8/fp32 kernels ONNX Runtime can use.
INTERESTING_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8")


@dataclass(frozen=True)
class Machine:
    """The machine and software a run measured."""

    cpu_model: str
    logical_cores: int
    usable_cores: int
    cpu_flags: tuple[str, ...]
    memory_gb: float
    device: str
    provider: str
    provider_reason: str
    versions: dict[str, str] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sgemm_gflops: float = 0.0
    commit: str = ""


def _cpuinfo() -> tuple[str, tuple[str, ...]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, ()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "flags":
            flags.update(value.split())
    return model, tuple(f for f in INTERESTING_FLAGS if f in flags)


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the figures (missing ones are left out)."""
    out = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(repo: Path) -> str:
    """Short commit of the checkout, with '+dirty' when it has changes; '' outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if head.returncode != 0:
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def rss_mb() -> float:
    """This process's resident memory in MB (from /proc; no psutil needed)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass(frozen=True)
class CpuSnapshot:
    """Machine-wide busy CPU seconds (/proc/stat) and this process's own (with its finished children)."""

    wall: float
    machine_busy_s: float
    own_s: float


def cpu_snapshot() -> CpuSnapshot:
    import resource

    busy = float("nan")
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) for x in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        busy = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user
    except (OSError, ValueError, IndexError):
        pass
    own = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    return CpuSnapshot(time.monotonic(), busy, own)


def others_cpu_share(start: CpuSnapshot, end: CpuSnapshot, cores: int) -> float:
    """Share of the machine's cores that *other* processes kept busy between two snapshots."""
    wall = end.wall - start.wall
    other = (end.machine_busy_s - start.machine_busy_s) - (end.own_s - start.own_s)
    return max(0.0, other) / (wall * cores) if wall > 0 else float("nan")


def sgemm_gflops(n: int = 1536, seconds: float = 0.5) -> float:
    """Achieved fp32 GFLOP/s of a large numpy matrix product: a practical ceiling for this CPU's fp32 work."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty_like(a)
    np.matmul(a, b, out=c)  # warm-up: thread pool, page faults
    best, deadline = float("inf"), time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return 2.0 * n**3 / best / 1e9


def describe_machine(device: str = "auto", measure_sgemm: bool = True) -> Machine:
    """Facts about this machine, the provider `device` resolves to, and the installed versions."""
    from streaming.providers import choose_providers

    choice = choose_providers(device)
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return Machine(
        cpu_model=model,
        logical_cores=os.cpu_count() or 1,
        usable_cores=usable,
        cpu_flags=flags,
        memory_gb=_memory_gb(),
        device=device,
        provider=choice.providers[0],
        provider_reason=choice.reason,
        versions=versions(),
        load_before=os.getloadavg(),
        sgemm_gflops=sgemm_gflops() if measure_sgemm else 0.0,
        commit=git_commit(Path(__file__).resolve().parents[1]),
    )


def format_machine(m: Machine) -> str:
    """The machine as a short markdown list, printed first and written above the tables."""
    load = ", ".join(f"{x:.2f}" for x in m.load_before)
    vers = ", ".join(f"{k} {v}" for k, v in m.versions.items())
    lines = [
        f"- CPU: {m.cpu_model}, {m.usable_cores} usable of {m.logical_cores} logical cores, "
        f"{m.memory_gb:.0f} GB RAM; flags: {' '.join(m.cpu_flags) or 'none of interest'}",
        f"- ONNX Runtime provider: {m.provider} (--device {m.device}: {m.provider_reason})",
        f"- Load average before the run (1/5/15 min): {load}",
    ]
    if m.sgemm_gflops:
        lines.append(f"- numpy fp32 matmul ceiling: {m.sgemm_gflops:.0f} GFLOP/s (1536x1536 sgemm, best of 0.5 s)")
    lines.append(f"- Versions: {vers}" + (f"; actionstream {m.commit}" if m.commit else ""))
    return "\n".join(lines)
