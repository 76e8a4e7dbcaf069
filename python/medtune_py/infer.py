"""Asks a vision-language model about images: one streamed question (`ask`) or the same questions to a base and a
tuned model (`compare`).

    python -m medtune_py.infer ask --model DIR [--adapter DIR] [--image A [--image B …]] --question TEXT
        [--max-new-tokens N] [--temperature T] [--top-p P] [--image-max-pixels N] [--image-min-pixels N]
    python -m medtune_py.infer compare --spec SPEC.json

`ask` emits one `token` event per decoded piece of text as it is generated, then a result with the whole answer.
Several --image flags put several images into one question, in order; none asks about text alone.

`compare` reads SPEC.json: {"base": {"model": DIR}, "tuned": {"model": DIR, "adapter": DIR|null},
"items": [{"images": [...], "question": ..., "reference": ...|null}], "max_new_tokens": N,
"image_max_pixels": N, "image_min_pixels": N, "adapter_hint": DIR|null}. The two models are loaded one after
the other (never together, so a 2B pair fits where one does), and the result carries the proof that the base
side really is the base model: the base folder holds no adapter and nothing attached one; the base side's
weights of LoRA-targetable layers hash the same as the base model's files on disk; and the tuned side's differ.
Identical weights end the helper with BASE_EQUALS_TUNED instead of a comparison that would compare nothing.

Decoding is greedy (do_sample off) unless `ask` gets a temperature above 0, on the GPU when there is one, else the
CPU; images are scaled into [image_min_pixels, image_max_pixels] keeping their aspect ratio, as LLaMA-Factory does
for training.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

from . import protocol

DEFAULT_MAX_PIXELS = 768 * 768  # LLaMA-Factory's image_max_pixels default
DEFAULT_MIN_PIXELS = 32 * 32
# The linear layers LoRA targets in a Qwen2-VL language model (lora_target: all).
LORA_LINEAR = re.compile(r"\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$")
FIRST_LAYER = re.compile(r"(^|\.)layers\.0\.")
VISION = re.compile(r"(^|\.)(visual|vision_tower|vision_model)\.")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


def device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_images(paths: list[str], max_pixels: int, min_pixels: int):
    from PIL import Image

    images = []
    for p in paths:
        try:
            im = Image.open(p)
            im.load()
        except Exception as err:  # noqa: BLE001 - any unreadable image is the user's file to fix
            protocol.fail("IMAGE_UNREADABLE", f"cannot read image {p}: {err}", "pass a PNG or JPEG file")
        w, h = im.size
        if w * h > max_pixels:
            f = math.sqrt(max_pixels / (w * h))
            im = im.resize((max(1, int(w * f)), max(1, int(h * f))))
        elif w * h < min_pixels:
            f = math.sqrt(min_pixels / (w * h))
            im = im.resize((int(w * f) + 1, int(h * f) + 1))
        images.append(im.convert("RGB"))
    return images


class Loaded:
    def __init__(self, processor, model, label: str):
        self.processor = processor
        self.model = model
        self.label = label


def load(model_dir: str, adapter: str | None, *, role: str) -> Loaded:
    """Loads a model folder, and merges a LoRA adapter into it when one is given."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        protocol.fail("NO_MODEL", f"{folder} holds no model (config.json is missing)",
                      "pass a model folder, an export name or a run id")
    if adapter is None and any((folder / f).exists() for f in ADAPTER_FILES):
        # transformers would silently attach that adapter (its PEFT integration loads it with the weights).
        protocol.fail("ADAPTER_IN_BASE",
                      f"the {role} folder {folder} also holds a LoRA adapter, so loading it would not give the plain model",
                      "point at the base model's own folder (models/<name>) or at a merged export")
    protocol.progress(f"load {role}", 0, 1, message=f"loading {folder.name}", force=True)
    try:
        processor = AutoProcessor.from_pretrained(folder)
        model = AutoModelForImageTextToText.from_pretrained(folder, dtype="auto")
    except Exception as err:  # noqa: BLE001 - loader failures are reported, not traced
        protocol.fail("MODEL_LOAD_FAILED", f"cannot load {folder}: {type(err).__name__}: {err}",
                      "check the folder with `medtune export --no-verify`'s verify step or `medtune doctor`")
    label = folder.name
    if adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except Exception as err:  # noqa: BLE001
            protocol.fail("ADAPTER_LOAD_FAILED", f"cannot apply the adapter {adapter} to {folder}: {type(err).__name__}: {err}",
                          "the adapter must come from a run on this base model")
        label = f"{folder.name} + {Path(adapter).name}"
    model.to(device()).eval()
    return Loaded(processor, model, label)


def assert_plain(loaded: Loaded, role: str) -> None:
    """The model carries no adapter: not a PeftModel, no LoRA modules, no adapter loaded by transformers."""
    model = loaded.model
    lora = [n for n, _ in model.named_modules() if "lora_" in n]
    if type(model).__name__.startswith("Peft") or getattr(model, "_hf_peft_config_loaded", False) or lora:
        attached = lora[0] if lora else type(model).__name__
        protocol.fail("ADAPTER_IN_BASE", f"the {role} model was loaded with a LoRA adapter attached ({attached})",
                      "this is a bug in medtune: please report it with the command you ran")


def generate(loaded: Loaded, images: list, question: str, max_new_tokens: int, on_text=None,
             temperature: float = 0.0, top_p: float = 1.0) -> dict[str, Any]:
    """The answer to one question about `images` (greedy at temperature 0, else sampled); `on_text` receives
    decoded pieces as they arrive. `cut` says the answer stopped at max_new_tokens rather than at its end."""
    import torch
    from transformers import TextIteratorStreamer

    processor, model = loaded.processor, loaded.model
    content = [{"type": "image"} for _ in images] + [{"type": "text", "text": question}]
    prompt = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=images or None, return_tensors="pt").to(model.device)
    prompt_len = inputs["input_ids"].shape[1]
    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else dict(do_sample=False)
    kwargs: dict[str, Any] = dict(**inputs, max_new_tokens=max_new_tokens, **sampling)
    started = time.monotonic()
    first: list[float] = []
    if on_text is None:
        with torch.no_grad():
            out = model.generate(**kwargs)
    else:
        streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        holder: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.no_grad():
                    holder["out"] = model.generate(**kwargs, streamer=streamer)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                holder["error"] = err
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                if not first:
                    first.append(time.monotonic() - started)
                on_text(piece)
        worker.join()
        if "error" in holder:
            raise holder["error"]
        out = holder["out"]
    new = out[0, prompt_len:]
    answer = processor.decode(new, skip_special_tokens=True).strip()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
    cut = int(new.shape[0]) >= max_new_tokens and int(new[-1]) not in eos_ids
    return {"answer": answer, "tokens": int(new.shape[0]), "prompt_tokens": int(prompt_len), "cut": cut,
            "seconds": round(time.monotonic() - started, 3),
            "first_token_seconds": round(first[0], 3) if first else None}


def release(loaded: Loaded | None) -> None:
    import torch

    if loaded is not None:
        del loaded.model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------------
# Weight proof


def sha256_of(tensor) -> str:
    import torch

    return hashlib.sha256(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes()).hexdigest()


def adapter_hint(adapter: str | None) -> str | None:
    """The layer path of the first module a LoRA adapter trains, e.g. `language_model.layers.0.self_attn.q_proj`."""
    if not adapter:
        return None
    file = Path(adapter) / "adapter_model.safetensors"
    if not file.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        keys = sorted(k for k in f.keys() if ".lora_A." in k)  # noqa: SIM118 (a safetensors handle, not a dict)
    if not keys:
        return None
    return keys[0].split(".lora_A.")[0].removeprefix("base_model.model.")


def candidate_names(model, hint: str | None) -> list[str]:
    """LoRA-targetable weights to fingerprint: the adapter's first trained module (if known), then the first
    language-model layer's linears."""
    names = [n for n, p in model.named_parameters() if p.ndim == 2 and LORA_LINEAR.search(n) and not VISION.search(n)]
    picked = [n for n in names if FIRST_LAYER.search(n)]
    if hint:
        tail = hint.split("layers.", 1)[-1]
        hinted = [n for n in names if n.endswith(f"layers.{tail}.weight")]
        picked = hinted[:1] + [n for n in picked if n not in hinted[:1]]
    return picked


def fingerprints(model, names: list[str]) -> dict[str, tuple[str, Any]]:
    import torch

    params = dict(model.named_parameters())
    return {n: (sha256_of(params[n]), params[n].detach().to(torch.float32).cpu().clone()) for n in names if n in params}


def on_disk(model_dir: str, name: str):
    """The tensor `name` read from the model folder's safetensors (matched by its path from `layers.` on when the
    in-memory name differs from the file's, as transformers renames some checkpoints' keys)."""
    from safetensors import safe_open

    folder = Path(model_dir)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    elif (folder / "model.safetensors").is_file():
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            weight_map = {k: "model.safetensors" for k in f.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
    else:
        return None
    key = name if name in weight_map else None
    if key is None and "layers." in name:
        tail = "layers." + name.split("layers.", 1)[1]
        matches = [k for k in weight_map if k.endswith(tail) and not VISION.search(k)]
        key = matches[0] if len(matches) == 1 else None
    if key is None:
        return None
    with safe_open(str(folder / weight_map[key]), "pt") as f:
        return f.get_tensor(key)


def proof(base_fp: dict, tuned_fp: dict, base_dir: str) -> dict[str, Any]:
    import torch

    shared = [n for n in base_fp if n in tuned_fp]
    if not shared:
        protocol.fail("NO_COMMON_WEIGHTS", "the base and the tuned model share no LoRA-targetable layer names",
                      "compare a tuned model with the base model it was trained from")
    differing = [n for n in shared if base_fp[n][0] != tuned_fp[n][0]]
    name = differing[0] if differing else shared[0]
    base_hash, base_t = base_fp[name]
    tuned_hash, tuned_t = tuned_fp[name]
    disk = on_disk(base_dir, name)
    change = float(torch.linalg.norm(tuned_t - base_t) / max(float(torch.linalg.norm(base_t)), 1e-12))
    return {"tensor": name, "baseSha256": base_hash, "tunedSha256": tuned_hash,
            "baseOnDiskSha256": sha256_of(disk) if disk is not None else None,
            "relativeChange": change, "differing": len(differing), "compared": len(shared)}


# ---------------------------------------------------------------------------------------------------------
# Commands


def cmd_ask(args: argparse.Namespace) -> int:
    images = load_images(args.image, args.image_max_pixels, args.image_min_pixels)
    loaded = load(args.model, args.adapter, role="model")
    protocol.progress("generate", 0, args.max_new_tokens, unit="tokens", message="generating", force=True)
    out = generate(loaded, images, args.question, args.max_new_tokens,
                   on_text=lambda text: protocol.emit("token", text=text), temperature=args.temperature, top_p=args.top_p)
    protocol.result(**out, model=args.model, adapter=args.adapter, images=args.image, question=args.question,
                    device=device())
    return 0


def answer_all(loaded: Loaded, items: list[dict], role: str, spec: dict) -> list[dict]:
    answers = []
    for i, item in enumerate(items):
        protocol.progress(f"{role} answers", i, len(items), unit="questions", force=True)
        images = load_images(item.get("images", []), spec["image_max_pixels"], spec["image_min_pixels"])
        answers.append(generate(loaded, images, item["question"], spec["max_new_tokens"]))
    protocol.progress(f"{role} answers", len(items), len(items), unit="questions", force=True)
    return answers


def cmd_compare(args: argparse.Namespace) -> int:
    from . import metrics

    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    spec.setdefault("max_new_tokens", 128)
    spec.setdefault("image_max_pixels", DEFAULT_MAX_PIXELS)
    spec.setdefault("image_min_pixels", DEFAULT_MIN_PIXELS)
    items: list[dict] = spec["items"]
    base_dir, tuned = spec["base"]["model"], spec["tuned"]
    if Path(base_dir).resolve() == Path(tuned["model"]).resolve() and not tuned.get("adapter"):
        protocol.fail("BASE_EQUALS_TUNED", f"--base and --tuned are the same folder ({base_dir})",
                      "compare a run or an export with the base model it was trained from")
    started = time.monotonic()
    hint = adapter_hint(tuned.get("adapter") or spec.get("adapter_hint"))

    base = load(base_dir, None, role="base")
    assert_plain(base, "base")
    names = candidate_names(base.model, hint)
    base_fp = fingerprints(base.model, names)
    base_answers = answer_all(base, items, "base", spec)
    base_params = sum(p.numel() for p in base.model.parameters())
    release(base)

    tuned_loaded = load(tuned["model"], tuned.get("adapter"), role="tuned")
    tuned_fp = fingerprints(tuned_loaded.model, names)
    evidence = proof(base_fp, tuned_fp, base_dir)
    if evidence["differing"] == 0:
        protocol.fail("BASE_EQUALS_TUNED",
                      f"the tuned model's weights equal the base model's ({evidence['compared']} LoRA-targetable tensors, "
                      f"{evidence['tensor']} sha256 {evidence['baseSha256'][:16]} on both sides)",
                      "the adapter or export holds no training: check that the run trained (its loss fell) and export it again")
    if evidence["baseOnDiskSha256"] not in (None, evidence["baseSha256"]):
        protocol.fail("BASE_MODIFIED", f"the base side's {evidence['tensor']} differs from the base model's files",
                      "this is a bug in medtune: please report it with the command you ran")
    tuned_answers = answer_all(tuned_loaded, items, "tuned", spec)
    release(tuned_loaded)

    out = []
    for item, b, t in zip(items, base_answers, tuned_answers, strict=False):
        ref = item.get("reference")
        out.append({"base": b, "tuned": t,
                    "baseScores": metrics.score(b["answer"], ref) if ref else None,
                    "tunedScores": metrics.score(t["answer"], ref) if ref else None})
    protocol.result(items=out, proof=evidence, baseParams=base_params, device=device(),
                    seconds=round(time.monotonic() - started, 2))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="medtune_py.infer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="one question about one or more images, streamed")
    ask.add_argument("--model", required=True, help="model folder (a base model or a merged export)")
    ask.add_argument("--adapter", help="LoRA adapter folder merged into --model before answering")
    ask.add_argument("--image", action="append", default=[], help="an image (repeat for several, in order)")
    ask.add_argument("--question", required=True)
    ask.add_argument("--max-new-tokens", type=int, default=256)
    ask.add_argument("--temperature", type=float, default=0.0, help="0: greedy; above 0: sampled")
    ask.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (with a temperature above 0)")
    ask.add_argument("--image-max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    ask.add_argument("--image-min-pixels", type=int, default=DEFAULT_MIN_PIXELS)
    cmp = sub.add_parser("compare", help="the same questions to a base and a tuned model")
    cmp.add_argument("--spec", required=True, help="JSON file describing both models and the questions")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    return cmd_ask(args) if args.command == "ask" else cmd_compare(args)


if __name__ == "__main__":
    protocol.run(main)
