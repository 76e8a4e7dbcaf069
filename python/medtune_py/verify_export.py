"""Checks that a merged export is usable: files, processor with chat template, model, one real generation.

    python -m medtune_py.verify_export --export DIR --base DIR [--image PNG] [--prompt TEXT] --out verify.json
        [--max-new-tokens N] [--image-max-pixels N]

Tokenizer, processor and chat-template files the export lacks are copied from the base model folder first
(LLaMA-Factory exports have shipped without them, which breaks vLLM and `AutoProcessor` users). verify.json is
written atomically whether the export passes or not: {ok, checks: [{name, ok, detail}], copied: [file names],
generation: {prompt, image, text, tokens, seconds} | null}. A failed check also ends the helper with an error
event. Without --image a synthetic CT-like scan is used, so the check needs nothing but the export.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, NoReturn

from . import protocol

# Each required part of a model folder, as alternative file sets (transformers-5 layout, legacy Hub layout).
REQUIRED: dict[str, list[list[str]]] = {
    "config": [["config.json"]],
    "weights": [["model.safetensors"], ["model.safetensors.index.json"]],
    "tokenizer": [["tokenizer.json", "tokenizer_config.json"], ["vocab.json", "merges.txt", "tokenizer_config.json"]],
    "processor": [["processor_config.json"], ["preprocessor_config.json"]],
    "chat_template": [["chat_template.jinja"], ["chat_template.json"]],
}
# Companions copied along with a part's files when the base has them (never weights or config: those must
# come from the merge).
EXTRAS: dict[str, list[str]] = {
    "tokenizer": ["special_tokens_map.json", "added_tokens.json"],
    "processor": ["video_preprocessor_config.json"],
    "chat_template": [],
}
DEFAULT_PROMPT = "Describe this medical image."


class Report:
    def __init__(self, out: Path):
        self.out = out
        self.checks: list[dict[str, Any]] = []
        self.copied: list[str] = []
        self.generation: dict[str, Any] | None = None

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append({"name": name, "ok": ok, "detail": detail})
        protocol.log(f"{'ok' if ok else 'FAILED'} {name}: {detail}", "info" if ok else "error")
        return ok

    def body(self) -> dict[str, Any]:
        return {"ok": bool(self.checks) and all(c["ok"] for c in self.checks), "checks": self.checks,
                "copied": self.copied, "generation": self.generation}

    def write(self) -> dict[str, Any]:
        body = self.body()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.out)
        return body

    def fail(self, code: str, message: str, next_step: str) -> NoReturn:
        self.write()
        protocol.fail(code, message, next_step)


def present(folder: Path, part: str) -> list[str] | None:
    """The first complete alternative of `part` found in folder, or None."""
    for files in REQUIRED[part]:
        if all((folder / f).is_file() for f in files):
            return files
    return None


def copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def check_files(report: Report, export: Path, base: Path) -> None:
    missing: list[str] = []
    for part in REQUIRED:
        if present(export, part):
            continue
        from_base = present(base, part) if part in EXTRAS and base.is_dir() else None
        if from_base:
            for name in from_base + EXTRAS[part]:
                if (base / name).is_file() and not (export / name).exists():
                    copy_atomic(base / name, export / name)
                    report.copied.append(name)
        if not present(export, part):
            missing.append(part)
    copied = ", ".join(report.copied)
    note = f"; copied from base: {copied}" if copied else ""
    # A template embedded in tokenizer_config.json may still reach the processor: the load step decides.
    fatal = [p for p in missing if p != "chat_template"]
    if fatal:
        wanted = "; ".join(" or ".join("+".join(alt) for alt in REQUIRED[p]) for p in fatal)
        report.check("files", False, f"missing: {wanted}{note}")
        report.fail("EXPORT_FILES_MISSING", f"the export at {export} lacks {wanted}",
                    f"re-run the export, or copy those files from the base model folder ({base}) into {export}")
    found = "config, weights, tokenizer, processor" + (" and chat template" if not missing else "; no chat template file")
    report.check("files", True, found + note)


def load(report: Report, export: Path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(export)
    except Exception as err:  # noqa: BLE001 - any loader failure is the finding we report
        report.check("processor", False, f"{type(err).__name__}: {err}")
        report.fail("PROCESSOR_LOAD_FAILED", f"AutoProcessor cannot load the export: {err}",
                    "run `medtune doctor` (Qwen2-VL processors need torchvision) and check processor_config.json")
    if not hasattr(processor, "image_processor"):
        report.check("processor", False, f"loaded {type(processor).__name__}, which has no image processor")
        report.fail("PROCESSOR_LOAD_FAILED", f"AutoProcessor returned {type(processor).__name__}, not a vision processor",
                    "copy processor_config.json / preprocessor_config.json from the base model into the export")
    report.check("processor", True, type(processor).__name__)
    if not getattr(processor, "chat_template", None):
        report.check("chat_template", False, "No chat template is set for this processor")
        report.fail("NO_CHAT_TEMPLATE", "the processor has no chat template (\"No chat template is set for this processor\")",
                    "copy chat_template.jinja (or chat_template.json) from the base model folder into the export")
    report.check("chat_template", True, f"{len(processor.chat_template)} characters")
    try:
        model = AutoModelForImageTextToText.from_pretrained(export, dtype="auto")
    except Exception as err:  # noqa: BLE001
        report.check("model", False, f"{type(err).__name__}: {err}")
        report.fail("MODEL_LOAD_FAILED", f"AutoModelForImageTextToText cannot load the export: {err}",
                    "the merged weights are incomplete or mismatched: re-run the export")
    vocab = model.get_input_embeddings().weight.shape[0]
    if len(processor.tokenizer) > vocab:
        report.check("model", False, f"tokenizer has {len(processor.tokenizer)} tokens, the embedding only {vocab}")
        report.fail("TOKENIZER_MISMATCH", "the tokenizer does not belong to these weights",
                    "copy the tokenizer files from the base model the adapter was trained on")
    params = sum(p.numel() for p in model.parameters())
    report.check("model", True, f"{type(model).__name__}, {params:,} parameters, {next(model.parameters()).dtype}")
    return processor, model


def synthetic_scan():
    """A 224x224 CT-like slice (bright skull ring, grey brain, a darker lesion): any vision model can read it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (224, 224), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((24, 16, 200, 208), fill=(90, 90, 90), outline=(230, 230, 230), width=10)
    draw.ellipse((120, 80, 160, 120), fill=(50, 50, 50))
    return image


def generate(report: Report, processor, model, image_path: Path | None, prompt: str, max_new_tokens: int,
             max_pixels: int) -> None:
    import torch
    from PIL import Image

    try:
        image = Image.open(image_path).convert("RGB") if image_path else synthetic_scan()
    except Exception as err:  # noqa: BLE001
        report.check("image", False, f"{image_path}: {err}")
        report.fail("IMAGE_UNREADABLE", f"cannot read the test image {image_path}: {err}", "pass --image with a PNG or JPEG")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    started = time.monotonic()
    try:
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=[image], return_tensors="pt",
                           images_kwargs={"max_pixels": max_pixels}).to(device)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:]
        answer = processor.decode(new, skip_special_tokens=True)
    except Exception as err:  # noqa: BLE001
        report.check("generate", False, f"{type(err).__name__}: {err}")
        report.fail("GENERATION_FAILED", f"generation with the image failed: {err}",
                    "check that the export's processor and weights come from the same base model")
    seconds = round(time.monotonic() - started, 3)
    report.generation = {"prompt": prompt, "image": str(image_path) if image_path else "synthetic", "text": answer,
                         "tokens": int(new.shape[0]), "seconds": seconds}
    report.check("generate", True, f"{new.shape[0]} new tokens in {seconds} s on {device}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="medtune_py.verify_export", description=__doc__.split("\n")[0])
    p.add_argument("--export", required=True, help="the merged model folder")
    p.add_argument("--base", required=True, help="the base model folder (source of missing tokenizer/processor files)")
    p.add_argument("--image", help="an image to ask about (default: a synthetic CT-like scan)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--out", required=True, help="where to write verify.json")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--image-max-pixels", type=int, default=512 * 512,
                   help="cap on the image's pixels (as LLaMA-Factory's image_max_pixels), keeps CPU checks quick")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    export, base = Path(args.export).resolve(), Path(args.base).resolve()
    report = Report(Path(args.out).resolve())
    if not export.is_dir():
        report.check("files", False, f"{export} is not a folder")
        report.fail("EXPORT_MISSING", f"no export folder at {export}", "run the export first")
    protocol.progress("files", 0, 3, message="checking files", force=True)
    check_files(report, export, base)
    protocol.progress("load", 1, 3, message="loading processor and model", force=True)
    processor, model = load(report, export)
    protocol.progress("generate", 2, 3, message="generating one answer", force=True)
    generate(report, processor, model, Path(args.image) if args.image else None, args.prompt, args.max_new_tokens, args.image_max_pixels)
    body = report.write()
    protocol.progress("done", 3, 3, force=True)
    protocol.result(path=str(report.out), **body)
    return 0


if __name__ == "__main__":
    protocol.run(main)
