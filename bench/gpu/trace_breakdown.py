"""Where a training step's time goes, from a torch profiler trace (LLaMA-Factory's `enable_torch_profiler`).

    python3 bench/gpu/trace_breakdown.py TRACE.pt.trace.json [--stderr RUN/stderr.log] > breakdown.json

Per recorded step (torch's `ProfilerStep#N` windows): wall time; GPU busy (the union of kernel, memcpy and memset
intervals) and so GPU idle; the data-loader wait (`enumerate(DataLoader)…` on the trainer's thread); kernel
launches (count, CPU time in cudaLaunchKernel and friends, kernels under 10 µs: LoRA's small matmuls); the
optimizer step; and the ten kernels with the most GPU time. With `--stderr`, the vision tower's forward/backward
from LLaMA-Factory's ModuleProfiler lines (`profile_modules: "*visual"`). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
LAUNCH = re.compile(r"^(cuda|cu)(LaunchKernel|LaunchKernelEx|GraphLaunch)")


def union_ms(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total / 1000


def within(e: dict, a: float, b: float) -> bool:
    return a <= e["ts"] < b


def breakdown(trace: dict) -> dict:
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X" and "dur" in e and "ts" in e]
    steps = sorted((e for e in events if e.get("name", "").startswith("ProfilerStep#")), key=lambda e: e["ts"])
    out_steps = []
    kernel_time: dict[str, float] = defaultdict(float)
    for s in steps:
        a, b = s["ts"], s["ts"] + s["dur"]
        inside = [e for e in events if within(e, a, b)]
        gpu = [e for e in inside if e.get("cat") in GPU_CATS]
        kernels = [e for e in gpu if e.get("cat") == "kernel"]
        launches = [e for e in inside if e.get("cat") in ("cuda_runtime", "cuda_driver") and LAUNCH.match(e.get("name", ""))]
        for k in kernels:
            kernel_time[k["name"]] += k["dur"] / 1000
        busy = union_ms([(e["ts"], e["ts"] + e["dur"]) for e in gpu])
        wall = s["dur"] / 1000
        out_steps.append({
            "step": s["name"],
            "wall_ms": round(wall, 2),
            "gpu_busy_ms": round(busy, 2),
            "gpu_idle_ms": round(wall - busy, 2),
            "dataloader_wait_ms": round(sum(e["dur"] for e in inside if e.get("name", "").startswith("enumerate(DataLoader)")) / 1000, 2),
            "optimizer_ms": round(sum(e["dur"] for e in inside if e.get("name", "").startswith("Optimizer.step#")) / 1000, 2),
            "kernels": len(kernels),
            "kernels_under_10us": sum(1 for k in kernels if k["dur"] < 10),
            "launches": len(launches),
            "launch_cpu_ms": round(sum(e["dur"] for e in launches) / 1000, 2),
        })
    n = max(1, len(out_steps))
    mean = {k: round(sum(s[k] for s in out_steps) / n, 2) for k in out_steps[0] if k != "step"} if out_steps else {}
    top = sorted(kernel_time.items(), key=lambda kv: -kv[1])[:10]
    return {"steps": out_steps, "mean_per_step": mean,
            "top_kernels_ms_per_step": [{"name": k[:120], "ms": round(v / n, 2)} for k, v in top]}


def module_times(stderr: str) -> dict:
    """Mean forward/backward ms of the modules LLaMA-Factory's ModuleProfiler timed, over every report in the log."""
    acc: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in re.finditer(r"^\s+(\S+): fwd=([\d.]+), bwd=([\d.]+), total=", stderr, re.M):
        acc[m.group(1)].append((float(m.group(2)), float(m.group(3))))
    return {name: {"fwd_ms": round(sum(f for f, _ in v) / len(v), 3), "bwd_ms": round(sum(b for _, b in v) / len(v), 3),
                   "reports": len(v)} for name, v in acc.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--stderr")
    a = ap.parse_args()
    result = breakdown(json.loads(Path(a.trace).read_text()))
    if a.stderr and Path(a.stderr).is_file():
        result["modules"] = module_times(Path(a.stderr).read_text(errors="replace"))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
