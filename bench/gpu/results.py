"""Builds bench/results/gpu-train.json and its Markdown table from the recorded device calls.

    python3 bench/gpu/results.py    # rewrites bench/results/gpu-train.json, prints the table for gpu-train.md

One row per measured configuration. `call` names the sitting (one machine, one device call): rows of one call share
its reference (`reference: true`, the blog's settings = profile gpu-24g). `profile` is the medtune profile whose
current values the row ran (null for a lever configuration no profile uses); `configuration` is the bench's own
name. A recorded folder added by a later call (bench/gpu/recorded/<call>/summary.json, written by
bench/gpu-train/runner.py) is picked up from CALLS below; runner.py copies each variant's `profile`, `reference`,
the card's nvidia-smi name and the MPS thread percentage into its summary.

`estimatedSamplesPerSecond` is what medtune's estimate (src/core/walltime.ts) says for the row's card and
settings; bench/gpu/estimate.mjs fills it for rows that have none yet, so a row written before its run keeps the
value it had then. Rows migrated from before the estimate existed got it from the estimate calibrated on them.

MFU as in bench/results/gpu-train.md: samples/s x (2 x 1.5437e9 x T x k + 2 x 0.6653e9 x 1296) / 790e12, T the
padded tokens per sample, k = 3 (4 with gradient checkpointing). Hours: 161,630 samples x 3 epochs at that rate.
"""
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results" / "gpu-train.json"
SAMPLES = 161_630 * 3
H200 = "NVIDIA H200 (143,771 MiB), driver 580.159.04, 16 cores"
H100 = "NVIDIA H100 80GB HBM3 (81,559 MiB), driver 580.159.04, 16 cores"
PREPROCESS = {"default": 12.0, "one-thread": 307.7}  # bench/gpu/recorded/speed-1/preprocess.jsonl
# The synthetic scans are 512 x 512: 504 x 504 after the processor's smart_resize, 36 x 36 = 1,296 patches.
PATCHES_512 = 1296
STEADY = "steady window of trainer_log.jsonl lines stamped by bench/gpu-train/runner.py"

# Recorded calls: folder, call name, card, nvidia-smi description, date.
CALLS = [
    ("bench/gpu-train/recorded", "h100-2026-11-27", "H100 80GB", H100, "2026-11-27"),
    ("bench/gpu/recorded/speed-1", "h200-2026-12-04-speed-1", "H200", H200, "2026-12-04"),
    ("bench/gpu/recorded/speed-2", "h200-2026-12-04-speed-2", "H200", H200, "2026-12-04"),
]
# Rows recorded before runner.py wrote `profile`: the medtune profile whose current values each configuration ran.
LEGACY_PROFILE = {
    ("h100-2026-11-27", "gpu-24g"): "gpu-24g", ("h100-2026-11-27", "gpu-40g"): "gpu-40g",
    ("h200-2026-12-04-speed-1", "ref-24g"): "gpu-24g", ("h200-2026-12-04-speed-1", "80g-liger-bs32-w8-omp1"): "gpu-80g",
    ("h200-2026-12-04-speed-2", "16g-liger-bs4-ga4-cap"): "gpu-16g",
}
LEGACY_NOTE = {("h100-2026-11-27", "gpu-80g"): "gpu-80g's values of 2026-11-27 (bs 16, no Liger); no profile uses them now"}


def mfu(rate, tokens, ckpt: bool, card: str, mps_pct):
    """Only on the cards whose 790 TFLOP/s was measured (H100, H200), or a share of them under MPS."""
    if rate is None or tokens is None or not (card.startswith("H100") or card.startswith("H200") or mps_pct):
        return None
    flops = 2 * 1.5437e9 * tokens * (4 if ckpt else 3) + 2 * 0.6653e9 * 1296
    return round(100 * rate * flops / (790e12 * (mps_pct / 100 if mps_pct else 1)), 1)


def hours(rate):
    return round(SAMPLES / rate / 3600, 2) if rate else None


def row(**kw) -> dict:
    """A row with every field, unknowns null, in one order."""
    keys = ["card", "gpu", "call", "reference", "profile", "configuration", "batch", "accumulation", "levers",
            "gradientCheckpointing", "loaderWorkers", "samplesPerSecond", "estimatedSamplesPerSecond", "mfu",
            "smiPeakGiB", "tokensPerSecond", "tokensPerSample", "patchesPerSample", "peakReservedGiB",
            "peakAllocatedGiB", "allocatorCapGiB", "mpsThreadPercentage", "secondsToFirstStep",
            "preprocessSamplesPerSecond", "gpuUtilPct", "powerW", "hoursFor161630x3", "date", "source", "measurement",
            "note"]
    out = {k: kw.pop(k, None) for k in keys}
    assert not kw, f"unknown fields {sorted(kw)}"
    out["levers"] = out["levers"] or []
    out["mfu"] = mfu(out["samplesPerSecond"], out["tokensPerSample"], bool(out["gradientCheckpointing"]), out["card"],
                     out["mpsThreadPercentage"])
    out["hoursFor161630x3"] = hours(out["samplesPerSecond"])
    return out


def recorded(folder: str, call: str, card: str, gpu: str, date: str) -> list[dict]:
    out = []
    path = ROOT / folder / "summary.json"
    if path.is_file():
        rows = json.loads(path.read_text())
    else:  # bench/gpu/emulate16g.sh writes one line per run as it ends
        path = ROOT / folder / "runs.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    for r in rows:
        rate = r.get("steady_samples_s")
        if not rate:
            continue
        env = r.get("env", {})
        name = r["profile"]
        mps = r.get("mps_pct")
        out.append(row(
            card=r.get("card") or (f"emulated 16 GB (MPS {mps:g}%, {r['cap_gib']:g} GiB cap)" if mps else card),
            gpu=r.get("gpu") or gpu, call=call,
            reference=bool(r.get("reference")) or name == "ref-24g" or (call == "h100-2026-11-27" and name == "gpu-24g"),
            profile=r.get("medtune_profile", LEGACY_PROFILE.get((call, name))), configuration=name,
            batch=r["batch"], accumulation=r["grad_accum"], levers=r.get("levers", []),
            gradientCheckpointing=r["grad_ckpt"], loaderWorkers=r["loader_workers"], samplesPerSecond=rate,
            smiPeakGiB=round(r["smi_peak_used_mib"] / 1024, 2) if r.get("smi_peak_used_mib") else None,
            tokensPerSecond=r.get("steady_tokens_s"), tokensPerSample=r.get("tokens_per_sample"),
            patchesPerSample=PATCHES_512, peakReservedGiB=r.get("vram_reserved_gib"),
            peakAllocatedGiB=r.get("vram_allocated_gib"), allocatorCapGiB=r.get("cap_gib"), mpsThreadPercentage=mps,
            secondsToFirstStep=r.get("launch_to_first_step_s"),
            preprocessSamplesPerSecond=(PREPROCESS["one-thread" if env.get("OMP_NUM_THREADS") == "1" else "default"]
                                        if call.startswith("h200") else None),
            gpuUtilPct=r.get("smi_steady", {}).get("util_pct"), powerW=r.get("smi_steady", {}).get("power_w"),
            date=date, source=str(path.relative_to(ROOT)), measurement=STEADY, note=LEGACY_NOTE.get((call, name)),
        ))
    return out


def main() -> int:
    out = []
    for call in CALLS:
        out += recorded(*call)
    # A call of bench/gpu/emulate16g.sh, brought back as bench/gpu/recorded/emulate16g-<date>/ with its runs.jsonl
    # and a call.json: {"card": "H100 80GB", "gpu": "<nvidia-smi name>", "date": "YYYY-MM-DD"}.
    for folder in sorted((HERE / "recorded").glob("emulate16g-*")):
        meta = json.loads((folder / "call.json").read_text())
        out += recorded(str(folder.relative_to(ROOT)), folder.name, meta["card"], meta["gpu"], meta["date"])
    # The medtune-only run of bench/gpu/e2e.sh (profile gpu-140g through `medtune train`): trainer_log was not
    # brought back, so its rate comes from the script's 1 s polls (step 5 seen at 124 s, step 30 at 150 s).
    e2e = dict(card="H200", gpu=H200, call="h200-2026-12-04-e2e", date="2026-12-04",
               source="bench/gpu/recorded/e2e/steps.tsv", patchesPerSample=PATCHES_512, loaderWorkers=8,
               gradientCheckpointing=False, preprocessSamplesPerSecond=PREPROCESS["one-thread"], accumulation=1)
    out.append(row(**e2e, reference=False, profile="gpu-140g", configuration="gpu-140g (medtune train, e2e)", batch=48,
                   levers=["liger", "bs48", "8 loader workers", "1 thread per worker", "expandable segments"],
                   samplesPerSecond=46.2, tokensPerSample=550, peakReservedGiB=72.42,
                   smiPeakGiB=round(74935 / 1024, 2), gpuUtilPct=94, powerW=640,
                   measurement="coarse: 25 steps x 48 samples in <= 26 s between two 1 s polls"))
    # gpu-80g through medtune under a 66.5 GiB allocator cap (85% of an 80 GB card, less the CUDA context).
    out.append(row(**e2e, reference=False, profile="gpu-80g", configuration="gpu-80g (medtune train, capped)", batch=32,
                   levers=["liger", "bs32", "8 loader workers", "1 thread per worker", "expandable segments", "cap 66.5 GiB"],
                   tokensPerSample=548.7, peakReservedGiB=49.72, peakAllocatedGiB=48.51, smiPeakGiB=round(51683 / 1024, 2),
                   allocatorCapGiB=66.5, gpuUtilPct=87, powerW=605,
                   measurement="memory only: 24 steps in 21 s of trainer elapsed time, warm-up included (>= 36.6 samples/s)"))
    # One H100 80GB, 2026-12-08, through medtune's CLI only (2,000 synthetic 512^2 scans, trainer_log lines stamped on
    # arrival at 0.1 s, reference and levers in one call). Only these figures came back: no tokens, no util per run.
    # Its nvidia-smi peaks were reported as thousands of MiB ("51.7 GB" = 63% of the card's 81,559 MiB).
    h100 = dict(card="H100 80GB", gpu=H100, call="h100-2026-12-08", date="2026-12-08", patchesPerSample=PATCHES_512,
                source="device call of 2026-12-08 (medtune train on one H100 80GB); per-run records were not kept",
                measurement="steady window of trainer_log.jsonl lines stamped on arrival (0.1 s)")
    out.append(row(**h100, reference=True, profile="gpu-24g", configuration="gpu-24g (medtune train)", batch=2,
                   accumulation=8, levers=["reference (blog) settings"], gradientCheckpointing=True, loaderWorkers=4,
                   samplesPerSecond=4.85, smiPeakGiB=round(17100 / 1024, 2)))
    out.append(row(**h100, reference=False, profile="gpu-80g", configuration="gpu-80g (medtune train)", batch=32,
                   accumulation=1, levers=["liger", "bs32", "8 loader workers", "1 thread per worker", "expandable segments"],
                   gradientCheckpointing=False, loaderWorkers=8, samplesPerSecond=40.2, smiPeakGiB=round(51700 / 1024, 2),
                   note="40.2-41 samples/s over the steady window (the lower end here); mean GPU utilisation 63%"))
    out.append(row(**h100, reference=False, profile="gpu-140g", configuration="gpu-80g at bs 48 (gpu-140g's values)",
                   batch=48, accumulation=1, levers=["liger", "bs48", "8 loader workers", "1 thread per worker", "expandable segments"],
                   gradientCheckpointing=False, loaderWorkers=8, samplesPerSecond=42.5, smiPeakGiB=round(74900 / 1024, 2),
                   note="92% of the card: too close for an 80 GB profile"))
    # The blog's run: 161,630 x 3 samples in 35 h on one RTX 4080 SUPER with the reference settings. Its tokens and
    # patches per sample are the measured figures for MedTrinity-25M at image_max_pixels 512^2 (548 and 1,296).
    out.append(row(card="RTX 4080 SUPER", gpu="NVIDIA GeForce RTX 4080 SUPER (16 GB)", call="blog", reference=True,
                   profile="gpu-24g", configuration="the blog's run", batch=2, accumulation=8,
                   levers=["reference (blog) settings"], gradientCheckpointing=True,
                   samplesPerSecond=round(SAMPLES / (35 * 3600), 2), tokensPerSample=548, patchesPerSample=1296,
                   source="the reference blog (35 h for 161,630 x 3 samples)",
                   measurement="whole run: samples / wall time (preprocessing and evaluation included)"))
    # Keep what the estimate said for a row before its run; fill the rest.
    if RESULTS.is_file():
        before = {(r.get("call"), r.get("configuration")): r.get("estimatedSamplesPerSecond") for r in json.loads(RESULTS.read_text())}
        for r in out:
            r["estimatedSamplesPerSecond"] = before.get((r["call"], r["configuration"]))
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    subprocess.run(["node", str(HERE / "estimate.mjs"), str(RESULTS)], check=True)
    out = json.loads(RESULTS.read_text())

    refs = {r["call"]: r["samplesPerSecond"] for r in out if r["reference"] and r["samplesPerSecond"]}
    print("| card | call | configuration | profile | batch x GA | samples/s | x reference (same call) | estimate | MFU % "
          "| nvidia-smi peak GiB | h for 161,630 x 3 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in out:
        rate = e["samplesPerSecond"]
        ref = refs.get(e["call"]) or refs.get({"h200-2026-12-04-speed-2": "h200-2026-12-04-speed-1",
                                                 "h200-2026-12-04-e2e": "h200-2026-12-04-speed-1"}.get(e["call"]))
        cap = f" (cap {e['allocatorCapGiB']:g})" if e["allocatorCapGiB"] else ""
        dash = lambda v: "–" if v is None else v  # noqa: E731
        print(f"| {e['card']} | {e['call']} | {e['configuration']} | {dash(e['profile'])} | {e['batch']} x {e['accumulation']} | "
              f"{dash(rate)} | {f'{rate / ref:.1f}' if rate and ref else '–'} | {dash(e['estimatedSamplesPerSecond'])} | "
              f"{dash(e['mfu'])} | {dash(e['smiPeakGiB'])}{cap} | {dash(e['hoursFor161630x3'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
