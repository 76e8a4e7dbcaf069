"""Can the tiny Qwen2-VL learn to name an image's modality with LoRA on a CPU? Measures it per model size.

    <venv>/bin/python bench/tiny-model/learn.py [--work DIR] [--epochs N] [--variant NAME=ARGS ...]

For each variant: build the tiny model (python/medtune_py/tiny_model.py with ARGS), train LoRA with the real
`llamafactory-cli train` (template qwen2_vl) on 204 synthetic scans of 6 modalities, then ask the adapted
model about 60 held-out scans and count answers that name the right modality. Prints one JSON line per variant;
results are recorded in bench/results/tiny-model.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODALITIES = ["CT", "MRI", "X-ray", "ultrasound", "pathology", "endoscopy"]
REGIONS = ["brain", "chest", "abdomen", "knee"]
QUESTION = "What is the modality of this image?"


def draw(modality: str, r: random.Random):
    """A scan whose modality shows in its global look (rings, blobs, bands, a fan, stained nuclei, a lumen)."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = r.choice([96, 112, 128]), r.choice([96, 112, 128])
    if modality == "CT":
        im = Image.new("RGB", (w, h), (0, 0, 0))
        g = r.randint(150, 230)
        ImageDraw.Draw(im).ellipse((r.randint(5, 20), r.randint(5, 20), w - r.randint(5, 20), h - r.randint(5, 20)),
                                   outline=(g, g, g), width=r.randint(4, 8), fill=(60, 60, 60))
    elif modality == "MRI":
        im = Image.new("RGB", (w, h), (10, 10, 10))
        d = ImageDraw.Draw(im)
        for _ in range(6):
            g, x, y = r.randint(60, 200), r.randint(10, w - 40), r.randint(10, h - 40)
            d.ellipse((x, y, x + r.randint(20, 40), y + r.randint(20, 40)), fill=(g, g, g))
        im = im.filter(ImageFilter.GaussianBlur(4))
    elif modality == "X-ray":
        im = Image.new("RGB", (w, h), (20, 20, 20))
        d = ImageDraw.Draw(im)
        for k in range(r.randint(4, 7)):
            y, g = 10 + k * r.randint(12, 16), r.randint(180, 250)
            d.line((5, y, w - 5, y + r.randint(-8, 8)), fill=(g, g, g), width=r.randint(3, 6))
    elif modality == "ultrasound":
        im = Image.new("RGB", (w, h), (0, 0, 0))
        ImageDraw.Draw(im).pieslice((-w // 2, -h // 3, w + w // 2, int(h * 1.3)), 55, 125, fill=(70, 70, 70))
        px = im.load()
        for _ in range(w * h // 3):
            x, y = r.randrange(w), r.randrange(h)
            if px[x, y][0] > 0:
                g = r.randint(20, 200)
                px[x, y] = (g, g, g)
    elif modality == "pathology":
        im = Image.new("RGB", (w, h), (r.randint(220, 250), r.randint(180, 210), r.randint(200, 230)))
        d = ImageDraw.Draw(im)
        for _ in range(r.randint(15, 30)):
            x, y, s = r.randrange(w), r.randrange(h), r.randint(3, 8)
            d.ellipse((x, y, x + s, y + s), fill=(r.randint(80, 140), r.randint(20, 60), r.randint(120, 180)))
    else:
        im = Image.new("RGB", (w, h), (r.randint(150, 200), r.randint(40, 80), r.randint(30, 60)))
        cx, cy, s = w // 2 + r.randint(-15, 15), h // 2 + r.randint(-15, 15), r.randint(10, 25)
        ImageDraw.Draw(im).ellipse((cx - s, cy - s, cx + s, cy + s), fill=(30, 5, 5))
        im = im.filter(ImageFilter.GaussianBlur(3))
    return im


def make_data(data: Path) -> list[dict]:
    r = random.Random(0)
    (data / "images").mkdir(parents=True, exist_ok=True)

    def split(n: int, name: str) -> list[dict]:
        rows = []
        for i in range(n):
            modality = MODALITIES[i % len(MODALITIES)]
            rel = f"images/{name}-{i:04d}.png"
            draw(modality, r).save(data / rel)
            rows.append({"messages": [{"role": "user", "content": f"<image>{QUESTION}"},
                                      {"role": "assistant", "content": f"The image is a {modality} image of the {r.choice(REGIONS)}."}],
                         "images": [rel], "modality": modality})
        return rows

    train, val = split(204, "train"), split(60, "val")
    (data / "train.json").write_text(json.dumps([{k: v for k, v in row.items() if k != "modality"} for row in train]))
    (data / "dataset_info.json").write_text(json.dumps({"learn": {
        "file_name": "train.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))
    return val


def evaluate(model_dir: Path, adapter: Path, data: Path, val: list[dict]) -> int:
    import torch
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_dir), adapter).eval()
    right = 0
    for row in val:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=[Image.open(data / row["images"][0]).convert("RGB")], return_tensors="pt",
                           images_kwargs={"max_pixels": 12544})
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        answer = processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        right += f"a {row['modality']} image" in answer
    return right


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="/tmp/medtune-bench-tiny")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", default="5.0e-3")
    p.add_argument("--variant", action="append", default=[],
                   help='NAME=ARGS for tiny_model, e.g. "h32=--hidden 32 --intermediate 64" (default: h64, h32, h128)')
    args = p.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) or {
        "h64": "", "h32": "--hidden 32 --intermediate 64", "h128": "--hidden 128 --intermediate 512 --vision-embed 64"}
    work = Path(args.work)
    data = work / "data"
    val = make_data(data)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "python")}
    cli = Path(sys.executable).with_name("llamafactory-cli")
    for name, extra in variants.items():
        model, out = work / f"model-{name}", work / f"out-{name}"
        subprocess.run([sys.executable, "-m", "medtune_py.tiny_model", "--out", str(model), *extra.split()], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cfg = work / f"train-{name}.yaml"
        cfg.write_text("\n".join([
            f"model_name_or_path: {model}", "stage: sft", "do_train: true", "finetuning_type: lora", "lora_target: all",
            "dataset: learn", f"dataset_dir: {data}", "template: qwen2_vl", "cutoff_len: 1024", "image_max_pixels: 12544",
            f"output_dir: {out}", "overwrite_output_dir: true", "logging_steps: 50", "save_steps: 100000",
            "report_to: none", "per_device_train_batch_size: 2", f"learning_rate: {args.lr}",
            f"num_train_epochs: {args.epochs}", "lr_scheduler_type: cosine", ""]))
        started = time.monotonic()
        with open(work / f"train-{name}.log", "w") as log:
            subprocess.run([str(cli), "train", str(cfg)], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
        wall = time.monotonic() - started
        records = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines() if '"loss"' in line]
        params = json.loads(subprocess.run([sys.executable, "-c", "import json,sys; from safetensors import safe_open; "
                                            "f=safe_open(sys.argv[1],'pt'); import math; "
                                            "print(sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()))",
                                            str(model / "model.safetensors")], capture_output=True, text=True).stdout)
        print(json.dumps({
            "variant": name, "args": extra, "params": params,
            "bytes": sum(f.stat().st_size for f in model.iterdir() if f.is_file()),
            "steps": records[-1]["current_steps"], "train_wall_s": round(wall, 1),
            "train_runtime_s": round(json.loads((out / "all_results.json").read_text())["train_runtime"], 1),
            "loss_first": round(records[0]["loss"], 3), "loss_last": round(records[-1]["loss"], 3),
            "heldout_right": evaluate(model, out, data, val), "heldout": len(val),
        }), flush=True)


if __name__ == "__main__":
    main()
