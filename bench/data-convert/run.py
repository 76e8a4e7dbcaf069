"""Benchmark: medtune's converter vs the reference workflow's method on the same MedTrinity-style rows.

    <venv>/bin/python bench/data-convert/run.py [--rows 3000] [--size 512] [--work DIR] [--workers N]

The venv is medtune's (`medtune doctor` prints its path). Rows come from the sample-set generator at 512x512 JPEG
(about 50 KB each, like 25M_demo's images). Each variant runs as its own process tree, --repeat times, the variants
taking turns so that a burst of load elsewhere does not land on one of them only. Reported: median wall time,
median CPU time of the whole tree (user + system, from getrusage of the reaped children, so it holds up on a busy
machine where wall time does not), the peak resident memory of the whole tree, in all and anonymous only (sampled every 20 ms with psutil),
and the output size. Prints a Markdown table and a JSON line; results are recorded in bench/results/data-convert.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = str(ROOT / "python")


def tree_rss(proc: psutil.Process) -> tuple[int, int, int]:
    """(sum, max, anonymous sum) resident bytes over a process and all its descendants. Anonymous = RSS minus
    shared (file-backed) pages: what the kernel cannot simply drop, unlike the pages of a memory-mapped file."""
    total = biggest = anon = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_info()
        except psutil.Error:
            continue
        total += info.rss
        biggest = max(biggest, info.rss)
        anon += info.rss - getattr(info, "shared", 0)
    return total, biggest, anon


def measure(cmd: list[str], cwd: Path) -> dict:
    extra = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": PYTHONPATH + (os.pathsep + extra if extra else ""), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak_sum = peak_one = peak_anon = 0
    while child.poll() is None:
        try:
            s, m, an = tree_rss(proc)
            peak_sum, peak_one, peak_anon = max(peak_sum, s), max(peak_one, m), max(peak_anon, an)
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    out, err = child.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({child.returncode}):\n{err[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": wall, "cpu_seconds": cpu, "peak_rss": peak_sum, "peak_rss_one_process": peak_one,
            "peak_anon": peak_anon, "stdout": out}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="medtune-bench-"))
    src = work / f"src-{a.rows}-{a.size}"
    if not (src / ".complete").exists():
        shutil.rmtree(src, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "medtune_py.sample_set", "--out", str(src), "--rows", str(a.rows),
                        "--shards", "10", "--size", str(a.size), "--format", "jpeg"], check=True,
                       env={**os.environ, "PYTHONPATH": PYTHONPATH}, stdout=subprocess.DEVNULL)
        (src / ".complete").write_text(f"{time.perf_counter() - t:.1f}")
    src_bytes = du(src)

    variants = {
        "reference (decode + re-encode, list in memory, one JSON)": lambda out: (
            [sys.executable, str(ROOT / "bench" / "data-convert" / "reference.py"), str(src), str(out / "mllm_data"),
             str(out / "cache")], out),
        "medtune data_prepare, 1 worker": lambda out: (
            [sys.executable, "-m", "medtune_py.data_prepare", "--data-dir", str(out / "data"), "--name", "bench",
             "--source", str(src), "--workers", "1", "--cache", str(out / "cache")], out),
        f"medtune data_prepare, {a.workers} workers": lambda out: (
            [sys.executable, "-m", "medtune_py.data_prepare", "--data-dir", str(out / "data"), "--name", "bench",
             "--source", str(src), "--workers", str(a.workers), "--cache", str(out / "cache")], out),
    }
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    outputs: dict[str, int] = {}
    load = []
    for _ in range(a.repeat):
        for name, make in variants.items():
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            cmd, cwd = make(out)
            load.append(os.getloadavg()[0])
            runs[name].append(measure(cmd, cwd))
            produced = (out / "mllm_data") if (out / "mllm_data").exists() else (out / "data" / "bench")
            outputs[name] = du(produced)
            shutil.rmtree(out, ignore_errors=True)
    results = []
    for name, rs in runs.items():
        wall = statistics.median(r["seconds"] for r in rs)
        cpu_s = statistics.median(r["cpu_seconds"] for r in rs)
        results.append({"variant": name, "rows": a.rows, "runs": len(rs), "seconds": round(wall, 2),
                         "seconds_all": [round(r["seconds"], 2) for r in rs], "rows_per_s": round(a.rows / wall, 1),
                         "cpu_seconds": round(cpu_s, 2), "rows_per_cpu_s": round(a.rows / cpu_s, 1),
                         "peak_rss_mib": round(max(r["peak_rss"] for r in rs) / 2**20),
                         "peak_rss_one_process_mib": round(max(r["peak_rss_one_process"] for r in rs) / 2**20),
                         "peak_anon_mib": round(max(r["peak_anon"] for r in rs) / 2**20),
                         "output_mib": round(outputs[name] / 2**20, 1)})

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.processor())
    print(f"\nmachine: {cpu}, {os.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB; "
          f"python {platform.python_version()}; rows {a.rows} at {a.size}x{a.size} JPEG "
          f"({round(src_bytes / 2**20, 1)} MiB of parquet); {a.repeat} runs each, medians; "
          f"1-min load average during the runs {min(load):.1f}-{max(load):.1f}\n")
    print("| variant | rows/s (wall) | wall s (all runs) | rows per CPU-second | CPU s | peak RSS, tree MiB | "
          "peak RSS, largest process MiB | peak anonymous RSS, tree MiB | output MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['variant']} | {r['rows_per_s']} | {r['seconds']} ({', '.join(map(str, r['seconds_all']))}) | "
              f"{r['rows_per_cpu_s']} | {r['cpu_seconds']} | {r['peak_rss_mib']} | {r['peak_rss_one_process_mib']} | "
              f"{r['peak_anon_mib']} | {r['output_mib']} |")
    print(json.dumps({"rows": a.rows, "size": a.size, "source_mib": round(src_bytes / 2**20, 1), "load": load,
                      "results": results}))


if __name__ == "__main__":
    main()
