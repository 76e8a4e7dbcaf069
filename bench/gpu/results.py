"""Builds bench/results/gpu-train.json and its Markdown table from the recorded device calls (bench/gpu/recorded).

    python3 bench/gpu/results.py    # rewrites bench/results/gpu-train.json, prints the README table

MFU as in bench/results/gpu-train.md: samples/s x (2 x 1.5437e9 x T x k + 2 x 0.6653e9 x 1296) / 790e12, T the
padded tokens per sample, k = 3 (4 with gradient checkpointing). Hours: 161,630 samples x 3 epochs at that rate.
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SAMPLES = 161_630 * 3
BLOG_H = 35.0
GPU = "NVIDIA H200 (143,771 MiB), driver 580.159.04, 16 cores"
PREPROCESS = {"default": 12.0, "one-thread": 307.7}  # bench/gpu/recorded/speed-1/preprocess.jsonl


def mfu(rate: float, tokens: float, ckpt: bool) -> float:
    flops = 2 * 1.5437e9 * tokens * (4 if ckpt else 3) + 2 * 0.6653e9 * 1296
    return round(100 * rate * flops / 790e12, 1)


def entry(r: dict, date: str, source: str) -> dict:
    env = r.get("env", {})
    rate = r["steady_samples_s"]
    one_thread = env.get("OMP_NUM_THREADS") == "1"
    return {
        "profile": r["profile"], "gpu": GPU, "batch": r["batch"], "accumulation": r["grad_accum"],
        "levers": r.get("levers", []), "gradientCheckpointing": r["grad_ckpt"], "loaderWorkers": r["loader_workers"],
        "samplesPerSecond": rate, "tokensPerSecond": r.get("steady_tokens_s"), "tokensPerSample": r.get("tokens_per_sample"),
        "mfu": mfu(rate, r["tokens_per_sample"], r["grad_ckpt"]), "peakReservedGiB": r.get("vram_reserved_gib"),
        "peakAllocatedGiB": r.get("vram_allocated_gib"), "smiPeakGiB": round(r["smi_peak_used_mib"] / 1024, 2),
        "allocatorCapGiB": r.get("cap_gib"), "secondsToFirstStep": r.get("launch_to_first_step_s"),
        "preprocessSamplesPerSecond": PREPROCESS["one-thread" if one_thread else "default"],
        "gpuUtilPct": r.get("smi_steady", {}).get("util_pct"), "powerW": r.get("smi_steady", {}).get("power_w"),
        "hoursFor161630x3": round(SAMPLES / rate / 3600, 2), "date": date, "source": source,
        "measurement": "steady window of trainer_log.jsonl lines stamped by bench/gpu-train/runner.py",
    }


def main() -> int:
    out = []
    for folder, date in (("speed-1", "2026-12-04"), ("speed-2", "2026-12-04")):
        for r in json.loads((HERE / "recorded" / folder / "summary.json").read_text()):
            if r.get("steady_samples_s"):
                out.append(entry(r, date, f"bench/gpu/recorded/{folder}/summary.json"))
    # The medtune-only run of bench/gpu/e2e.sh (profile gpu-140g through `medtune train`): trainer_log was not
    # brought back, so its rate comes from the script's 1 s polls (step 5 seen at 124 s, step 30 at 150 s).
    out.append({
        "profile": "gpu-140g (medtune train, e2e)", "gpu": GPU, "batch": 48, "accumulation": 1,
        "levers": ["liger", "bs48", "8 loader workers", "1 thread per worker", "expandable segments"],
        "gradientCheckpointing": False, "loaderWorkers": 8, "samplesPerSecond": 46.2, "tokensPerSecond": None,
        "tokensPerSample": 550, "mfu": mfu(46.2, 550, False), "peakReservedGiB": 72.42, "peakAllocatedGiB": None,
        "smiPeakGiB": round(74935 / 1024, 2), "allocatorCapGiB": None, "secondsToFirstStep": None,
        "preprocessSamplesPerSecond": PREPROCESS["one-thread"], "gpuUtilPct": 94, "powerW": 640,
        "hoursFor161630x3": round(SAMPLES / 46.2 / 3600, 2), "date": "2026-12-04",
        "source": "bench/gpu/recorded/e2e/e2e.log", "measurement": "coarse: 25 steps x 48 samples in <= 26 s between two 1 s polls",
    })
    # gpu-80g through medtune under a 66.5 GiB allocator cap (85% of an 80 GB card, less the CUDA context).
    out.append({
        "profile": "gpu-80g (medtune train, capped)", "gpu": GPU, "batch": 32, "accumulation": 1,
        "levers": ["liger", "bs32", "8 loader workers", "1 thread per worker", "expandable segments", "cap 66.5 GiB"],
        "gradientCheckpointing": False, "loaderWorkers": 8, "samplesPerSecond": None, "tokensPerSecond": None,
        "tokensPerSample": 548.7, "mfu": None, "peakReservedGiB": 49.72, "peakAllocatedGiB": 48.51,
        "smiPeakGiB": round(51683 / 1024, 2), "allocatorCapGiB": 66.5, "secondsToFirstStep": None,
        "preprocessSamplesPerSecond": PREPROCESS["one-thread"], "gpuUtilPct": 87, "powerW": 605,
        "hoursFor161630x3": None, "date": "2026-12-04", "source": "bench/gpu/recorded/e2e/e2e.log",
        "measurement": "memory only: 24 steps in 21 s of trainer elapsed time, warm-up included (>= 36.6 samples/s)",
    })
    (ROOT / "bench" / "results" / "gpu-train.json").write_text(json.dumps(out, indent=1) + "\n")
    ref = next(e["samplesPerSecond"] for e in out if e["profile"] == "ref-24g")
    print("| configuration | batch x GA | levers | samples/s | x reference | MFU % | reserved GiB | nvidia-smi peak GiB | h for 161,630 x 3 (blog: 35 h) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for e in out:
        rate = e["samplesPerSecond"]
        cap = f" (cap {e['allocatorCapGiB']})" if e["allocatorCapGiB"] else ""
        ratio = f"{rate / ref:.1f}" if rate else "–"
        levers = ", ".join(e["levers"]) or "gpu-80g as it was"
        hours = e["hoursFor161630x3"] or "–"
        print(f"| {e['profile']} | {e['batch']} x {e['accumulation']} | {levers} | {rate or '–'} | {ratio} | "
              f"{e['mfu'] or '–'} | {e['peakReservedGiB']} | {e['smiPeakGiB']}{cap} | {hours} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
