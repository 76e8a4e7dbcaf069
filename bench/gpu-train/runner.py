"""Runs `llamafactory-cli train` once per hardware profile and measures it from the outside.

    python3 bench/gpu-train/runner.py --configs bench/gpu-train/configs --profiles gpu-80g,gpu-40g,gpu-24g \
        --work /tmp/mtws/bench --out $OUT [--deadline EPOCH] [--cli llamafactory-cli] [--set KEY=VALUE ...]

Per profile, with the YAML and environment that bench/gpu-train/plan.mjs wrote through medtune's planner:
- launches the run in its own process group, with a wall-clock limit (the smaller of --timeout and what is
  left before --deadline), and nvidia-smi sampling memory, utilisation and power every 500 ms beside it;
- stamps each trainer_log.jsonl line with the wall time it appeared (polled every 0.2 s), and notes when the
  progress bar first shows step 0 and step 1, giving launch-to-training and launch-to-first-step;
- steady rates come from the log lines after the first (the first interval holds CUDA/cuDNN warm-up and the
  loader workers' start): samples/s = steps x batch x GA / wall seconds, tokens/s from total_tokens likewise.
Without --set the YAML is copied byte for byte; --set (for a CPU dry run of this script) rewrites it.
Writes <out>/summary.json and <work>/<profile>/{train.yaml,stdout.log,stderr.log,smi.csv,trainer_log.jsonl}.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

import yaml

POLL_S = 0.2


def parse_value(text: str):
    return yaml.safe_load(text)


def kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def start_smi(path: Path) -> subprocess.Popen | None:
    if not shutil.which("nvidia-smi"):
        return None
    query = "timestamp,memory.used,utilization.gpu,power.draw"
    out = open(path, "w")  # noqa: SIM115 (nvidia-smi's stdout for as long as it runs)
    # The epoch column is added by this script, line by line, so the samples line up with the log stamps.
    return subprocess.Popen(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-lms", "500"],
                            stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)


def gpu_name() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader", "-i", "0"],
                         capture_output=True, text=True)
    return out.stdout.strip() or None


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]" where a driver does not report a field


def read_smi(path: Path, t0: float, t_end: float) -> list[tuple[float, float | None, float | None, float | None]]:
    """(epoch, MiB used, util %, W) rows; nvidia-smi's local-time stamp is mapped to epoch through time.mktime."""
    rows = []
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        stamp, _, frac = parts[0].partition(".")
        try:
            t = time.mktime(time.strptime(stamp, "%Y/%m/%d %H:%M:%S")) + float(f"0.{frac or 0}")
        except ValueError:
            continue
        rows.append((t, _num(parts[1]), _num(parts[2]), _num(parts[3])))
    return [r for r in rows if t0 - 1 <= r[0] <= t_end + 1]


def _mean(values) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.mean(got)) if got else None


def run_profile(name: str, a: argparse.Namespace, deadline: float, variant: dict | None = None) -> dict:
    base = variant["base"] if variant else name
    cfg_text = (Path(a.configs) / f"{base}.yaml").read_text()
    env_extra = json.loads((Path(a.configs) / f"{base}.env.json").read_text())
    cfg = yaml.safe_load(cfg_text)
    work = Path(a.work) / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sets = list(a.set)
    if variant:
        # A variant: the base profile's YAML with some keys changed (one lever at a time), its own output_dir,
        # extra environment, and optionally a cap on the CUDA allocator (bench/gpu/sitecustomize).
        sets += [f"{k}={json.dumps(v)}" for k, v in variant.get("set", {}).items()]
        sets.append(f"output_dir={Path(cfg['output_dir']).parent / name}")
        env_extra = {**env_extra, **variant.get("env", {})}
        if variant.get("cap_gib"):
            env_extra["MT_MEM_CAP_GIB"] = str(variant["cap_gib"])
            site = str(Path(__file__).resolve().parent.parent / "gpu" / "sitecustomize")
            env_extra["PYTHONPATH"] = site + os.pathsep + os.environ.get("PYTHONPATH", "")
    if sets:
        for item in sets:
            key, _, value = item.partition("=")
            cfg[key] = parse_value(value)
        cfg_text = yaml.safe_dump(cfg, sort_keys=False)
    (work / "train.yaml").write_text(cfg_text)
    out_dir = Path(cfg["output_dir"])
    shutil.rmtree(out_dir, ignore_errors=True)
    bs, ga = int(cfg["per_device_train_batch_size"]), int(cfg.get("gradient_accumulation_steps", 1))
    max_steps = int(cfg["max_steps"])
    env = {**os.environ, **env_extra, "LLAMABOARD_WORKDIR": str(out_dir)}

    limit = min(float((variant or {}).get("timeout_s", a.timeout)), deadline - time.time())
    res: dict = {"profile": name, "base": base, "levers": (variant or {}).get("levers", []),
                 "set": (variant or {}).get("set", {}), "env": (variant or {}).get("env", {}),
                 "cap_gib": (variant or {}).get("cap_gib"),
                 # For bench/gpu/results.py: the medtune profile whose values this ran, the blog's settings or not,
                 # the card, and the MPS share of its SMs when a smaller card is emulated (bench/gpu/emulate16g.sh).
                 "medtune_profile": (variant or {}).get("profile", None if variant else name),
                 "reference": bool((variant or {}).get("reference")), "gpu": gpu_name(),
                 "mps_pct": float(mps) if (mps := os.environ.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE")) else None,
                 "batch": bs, "grad_accum": ga, "samples_per_step": bs * ga, "max_steps": max_steps,
                 "grad_ckpt": not cfg.get("disable_gradient_checkpointing", False),
                 "loader_workers": cfg.get("dataloader_num_workers", 0)}
    if limit < a.min_run:
        res["skipped"] = f"only {limit:.0f} s left before the deadline"
        return res

    smi = start_smi(work / "smi.csv")
    t0 = time.time()
    with open(work / "stdout.log", "wb") as so, open(work / "stderr.log", "wb") as se:
        proc = subprocess.Popen([a.cli, "train", str(work / "train.yaml")], stdout=so, stderr=se, env=env,
                                start_new_session=True)
    stamps: list[tuple[float, dict]] = []
    seen = 0
    marks: dict[str, float] = {}
    err_pos = 0
    bar = {k: re.compile(rf"\|\s*{k}/{max_steps} \[".encode()) for k in ("0", "1")}
    timed_out = False
    log_file = out_dir / "trainer_log.jsonl"
    while True:
        rc = proc.poll()
        now = time.time()
        if log_file.is_file():
            lines = log_file.read_text().splitlines()
            for line in lines[seen:]:
                try:
                    stamps.append((now, json.loads(line)))
                except ValueError:
                    break  # a half-written line: read it again next time
                seen += 1
        if len(marks) < 2:
            with open(work / "stderr.log", "rb") as f:
                start = max(0, err_pos - 64)  # a bar split across two reads is still found
                f.seek(start)
                chunk = f.read()
                err_pos = start + len(chunk)
            for k, pat in bar.items():
                if k not in marks and pat.search(chunk):
                    marks[k] = now
        if rc is not None:
            break
        if now - t0 > limit:
            timed_out = True
            kill_group(proc)
            break
        time.sleep(POLL_S)
    t_end = time.time()
    rc = proc.wait()
    if smi:
        kill_group(smi)
    if log_file.is_file():
        shutil.copy(log_file, work / "trainer_log.jsonl")

    res.update(rc=rc, timed_out=timed_out, wall_s=round(t_end - t0, 1),
               launch_to_train_s=round(marks["0"] - t0, 1) if "0" in marks else None,
               launch_to_first_step_s=round(marks["1"] - t0, 1) if "1" in marks else None,
               log_lines=len(stamps))
    results_file = out_dir / "all_results.json"
    if results_file.is_file():
        r = json.loads(results_file.read_text())
        res["trainer"] = {k: r[k] for k in ("train_runtime", "train_samples_per_second", "train_steps_per_second",
                                            "train_loss", "num_input_tokens_seen") if k in r}
    logs = [(t, d) for t, d in stamps if "loss" in d and "current_steps" in d]
    if logs:
        last = logs[-1][1]
        res["steps_done"] = last["current_steps"]
        res["trainer_throughput_tok_s"] = last.get("throughput")
        res["vram_reserved_gib"] = max(d.get("vram_reserved", 0) for _, d in logs)
        res["vram_allocated_gib"] = max(d.get("vram_allocated", 0) for _, d in logs)
        res["losses"] = [d["loss"] for _, d in logs]
        if last.get("total_tokens"):
            res["tokens_per_sample"] = round(last["total_tokens"] / (last["current_steps"] * bs * ga), 1)
    if len(logs) >= 3:
        (ta, da), (tb, db) = logs[0], logs[-1]
        span = tb - ta
        res["steady_window"] = {"from_step": da["current_steps"], "to_step": db["current_steps"], "seconds": round(span, 2)}
        res["steady_samples_s"] = round((db["current_steps"] - da["current_steps"]) * bs * ga / span, 2)
        if db.get("total_tokens") and da.get("total_tokens"):
            res["steady_tokens_s"] = round((db["total_tokens"] - da["total_tokens"]) / span)
        smi_rows = read_smi(work / "smi.csv", ta, tb)
        if smi_rows:
            res["smi_steady"] = {"util_pct": _mean(r[2] for r in smi_rows), "power_w": _mean(r[3] for r in smi_rows)}
    used = [r[1] for r in read_smi(work / "smi.csv", t0, t_end) if r[1] is not None]
    if used:
        res["smi_peak_used_mib"] = max(used)
    tail = (work / "stderr.log").read_bytes()[-4000:].decode(errors="replace")
    if rc != 0 or timed_out:
        res["stderr_tail"] = tail[-1500:]
    if "out of memory" in tail.lower():
        res["oom"] = True
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", required=True)
    ap.add_argument("--profiles", default="", help="comma-separated, run in this order")
    ap.add_argument("--variants", help="JSON list of {name, base, set, env, cap_gib, levers, timeout_s}, run in order")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cli", default="llamafactory-cli")
    ap.add_argument("--deadline", type=float, default=0, help="epoch seconds; no run goes past it")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run")
    ap.add_argument("--min-run", type=float, default=60, help="skip a run with less time than this left")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE override (CPU checks of this script)")
    a = ap.parse_args()
    deadline = a.deadline or time.time() + 3600
    Path(a.out).mkdir(parents=True, exist_ok=True)
    results = []
    todo = [(n, None) for n in a.profiles.split(",") if n]
    if a.variants:
        todo += [(v["name"], v) for v in json.loads(Path(a.variants).read_text())]
    for name, variant in todo:
        print(f"== {name}", flush=True)
        res = run_profile(name, a, deadline, variant)
        results.append(res)
        print(json.dumps({k: v for k, v in res.items() if k not in ("stderr_tail", "losses")}), flush=True)
        if "stderr_tail" in res:
            print(res["stderr_tail"], flush=True)
        (Path(a.out) / "summary.json").write_text(json.dumps(results, indent=1))
    print("\nprofile  bs x GA  ckpt  rc  steady samples/s  tokens/s  tok/sample  reserved GiB  smi peak MiB  first step s  wall s")
    for r in results:
        print(f"{r['profile']:8} {r['batch']:>2} x {r['grad_accum']:<3} {'on ' if r['grad_ckpt'] else 'off'}  "
              f"{r.get('rc', '-')!s:>3} {r.get('steady_samples_s', '-')!s:>16} {r.get('steady_tokens_s', '-')!s:>9} "
              f"{r.get('tokens_per_sample', '-')!s:>11} {r.get('vram_reserved_gib', '-')!s:>13} "
              f"{r.get('smi_peak_used_mib', '-')!s:>13} {r.get('launch_to_first_step_s', '-')!s:>13} {r.get('wall_s', '-')!s:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
