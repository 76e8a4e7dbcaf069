"""Benchmark: `data prepare` across worker counts at 25M_demo's size, against the reference script, on one machine.

    python3 bench/data-scale/run.py --out DIR [--rows 161630] [--subset 8000] [--workers 1,2,4,8,16] [--pool 2048]
        [--work DIR] [--reference-rows 8000]

Makes a synthetic set in 25M_demo's parquet schema (10 shards, row groups of 100 rows like the Hub's files, ids and
~340-character captions from the sample-set planner, 512x512 JPEGs of about 50 KB drawn from a pool of --pool
distinct images rendered in parallel), then measures, each as its own process tree:
  - medtune's converter on the first --subset rows at each worker count (rows/s, CPU, peak RSS of the tree),
  - the reference script (bench/data-convert/reference.py: load_dataset, decode, re-encode, one list, one JSON) on
    --reference-rows rows (its time is linear in rows; it is projected to the full set, and says so),
  - medtune on all --rows rows at the largest worker count.
Writes DIR/data-scale.json after every measurement (a run cut short keeps what it had) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench" / "data-convert"))

from run import du, measure  # noqa: E402  (bench/data-convert/run.py: process-tree wall, CPU and RSS)

SHARDS = 10
ROW_GROUP = 100


def _render(args: tuple[int, int]) -> bytes:
    from medtune_py.sample_set import plan_rows, render

    i, size = args
    row = plan_rows(8, i)[i % 8]
    return render(row, i, 0, size, 90, "JPEG")


def make_set(dest: Path, rows: int, pool: list[bytes]) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from medtune_py.sample_set import demo_schema, plan_rows

    dest.mkdir(parents=True, exist_ok=True)
    plan = plan_rows(rows, 0)
    bounds = [round(k * rows / SHARDS) for k in range(SHARDS + 1)]
    for k in range(SHARDS):
        path = dest / f"train-{k:05d}-of-{SHARDS:05d}.parquet"
        with pq.ParquetWriter(path, demo_schema()) as w:
            for start in range(bounds[k], bounds[k + 1], 1000):
                idx = range(start, min(start + 1000, bounds[k + 1]))
                table = pa.table({"image": [{"bytes": pool[i % len(pool)], "path": None} for i in idx],
                                  "id": [f"{plan[i].id}-{i}" for i in idx],
                                  "caption": [plan[i].caption for i in idx]}, schema=demo_schema())
                w.write_table(table, row_group_size=ROW_GROUP)
    return {"rows": rows, "bytes": du(dest)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=161_630)
    ap.add_argument("--subset", type=int, default=8000)
    ap.add_argument("--reference-rows", type=int, default=8000)
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--pool", type=int, default=2048)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--work", default="/tmp/medtune-data-scale")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-reference", action="store_true")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    counts = [int(w) for w in a.workers.split(",")]
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.processor())
    import psutil

    report: dict = {"machine": {"cpu": cpu, "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                                "memory_gib": round(psutil.virtual_memory().total / 2**30), "python": platform.python_version(),
                                "disk_free_gib": round(shutil.disk_usage(work).free / 2**30)},
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": []}

    def save() -> None:
        (out / "data-scale.json").write_text(json.dumps(report, indent=1))

    t = time.perf_counter()
    with mp.get_context("spawn").Pool(min(32, os.cpu_count() or 1)) as p:
        pool = p.map(_render, [(i, a.size) for i in range(a.pool)], chunksize=16)
    report["pool"] = {"images": len(pool), "mean_kib": round(sum(map(len, pool)) / len(pool) / 1024, 1),
                      "seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    subset = make_set(work / "subset", a.subset, pool)
    ref_src = subset if a.reference_rows == a.subset else make_set(work / "ref", a.reference_rows, pool)
    report["sets"] = {"subset": subset, "reference": ref_src, "seconds": round(time.perf_counter() - t, 1)}
    save()
    print(json.dumps(report["pool"]), json.dumps(report["sets"]), flush=True)

    def convert(src: Path, rows: int, workers: int, label: str) -> None:
        dst = work / "out"
        shutil.rmtree(dst, ignore_errors=True)
        dst.mkdir()
        cmd = [sys.executable, "-m", "medtune_py.data_prepare", "--data-dir", str(dst / "data"), "--name", "bench",
               "--source", str(src), "--workers", str(workers), "--cache", str(dst / "cache"), "--min-free-gib", "0"]
        m = measure(cmd, dst)
        result = json.loads([ln for ln in m["stdout"].splitlines() if '"event": "result"' in ln][-1])
        r = {"variant": label, "rows": rows, "workers": workers, "seconds": round(m["seconds"], 2),
             "rows_per_s": round(rows / m["seconds"], 1), "cpu_seconds": round(m["cpu_seconds"], 1),
             "peak_rss_mib": round(m["peak_rss"] / 2**20), "peak_rss_one_process_mib": round(m["peak_rss_one_process"] / 2**20),
             "peak_anon_mib": round(m["peak_anon"] / 2**20), "kept": result["kept"],
             "output_mib": round(du(dst / "data" / "bench") / 2**20), "load": os.getloadavg()[0]}
        report["runs"].append(r)
        save()
        print(json.dumps(r), flush=True)
        shutil.rmtree(dst, ignore_errors=True)

    for w in counts:
        convert(work / "subset", a.subset, w, "medtune")

    dst = work / "ref-out"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir()
    reference = [sys.executable, str(ROOT / "bench" / "data-convert" / "reference.py"),
                 str(work / ("subset" if ref_src is subset else "ref")), str(dst / "mllm_data"), str(dst / "cache")]
    m = None if a.skip_reference else measure(reference, dst)
    if m is not None:
        r = {"variant": "reference", "rows": a.reference_rows, "workers": 1, "seconds": round(m["seconds"], 2),
             "rows_per_s": round(a.reference_rows / m["seconds"], 1), "cpu_seconds": round(m["cpu_seconds"], 1),
             "peak_rss_mib": round(m["peak_rss"] / 2**20), "peak_anon_mib": round(m["peak_anon"] / 2**20),
             "output_mib": round(du(dst / "mllm_data") / 2**20), "load": os.getloadavg()[0]}
        report["runs"].append(r)
        save()
        print(json.dumps(r), flush=True)
    shutil.rmtree(dst, ignore_errors=True)

    if not a.skip_full:
        t = time.perf_counter()
        report["sets"]["full"] = make_set(work / "full", a.rows, pool)
        report["sets"]["full_seconds"] = round(time.perf_counter() - t, 1)
        save()
        convert(work / "full", a.rows, max(counts), "medtune")
    shutil.rmtree(work, ignore_errors=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
