"""A LLaMA-Factory dataset from a folder of scans (DICOM series, DICOM files, NIfTI volumes).

    python -m medtune_py.scan_dataset --source DIR --data-dir WS/data --name NAME --templates DIR
        [--captions CSV] [--val-ratio R] [--lang en|zh|mixed] [--window auto|C/W] [--slices SPEC] [--force]

Writes WS/data/NAME/{images/, train.jsonl, val.jsonl, manifest.json} in one rename: one row per series, file or
volume, its images converted as python/medtune_py/scans.py does for `ask`; captions from the CSV's `series,caption`
lines; without a CSV, empty answers (an inference set). Registering it in dataset_info.json is the caller's job,
as for data_prepare. What a member of the folder was is recorded by code and position, never by path or header.
"""
from __future__ import annotations

import argparse
import hashlib
import os
from datetime import UTC
from pathlib import Path
from typing import Any

from . import protocol
from .scans import Member, Refused, convert_member, members, parse_slices, parse_window, settings_tag, write_picture

# DICOM Modality (0008,0060) to the modality labels the rest of medtune uses (python/medtune_py/medtrinity.py).
DICOM_MODALITY = {"CT": "CT", "MR": "MRI", "PT": "PET", "CR": "X-ray", "DX": "X-ray", "MG": "X-ray", "RF": "X-ray",
                  "XA": "X-ray", "RG": "X-ray", "IO": "X-ray", "PX": "X-ray", "US": "ultrasound", "SM": "pathology",
                  "GM": "pathology", "OP": "fundus", "OPT": "fundus", "ES": "endoscopy", "XC": "dermoscopy"}


def read_captions(path: Path) -> dict[str, str]:
    """A CSV with a header naming a `series` column (a series folder or file relative to the source, or a
    SeriesInstanceUID) and a `caption` column."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [c.strip().lower() for c in (reader.fieldnames or [])]
            if "series" not in fields or "caption" not in fields:
                found = ", ".join(fields) or "none"
                protocol.fail("BAD_CAPTIONS", f"the captions CSV needs a header with `series` and `caption` columns (found: {found})",
                              "write it as: series,caption  then one line per series folder, file or SeriesInstanceUID")
            out: dict[str, str] = {}
            for row in reader:
                norm = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                key = norm["series"].strip().strip("/")
                if key:
                    out[key] = norm["caption"]
            return out
    except UnicodeDecodeError:
        protocol.fail("BAD_CAPTIONS", "the captions CSV is not UTF-8 text", "save it as UTF-8 (CSV UTF-8 in spreadsheet programs)")
    except OSError as err:
        protocol.fail("BAD_CAPTIONS", f"cannot read the captions CSV ({err.strerror})")


def caption_keys(m: Member, root: Path) -> list[str]:
    """The CSV keys that name a member: its folder or file, its SeriesInstanceUID, and for a one-file series the
    file itself (with or without its folder and extension)."""
    keys = [m.key, m.series_uid, Path(m.key).name]
    if len(m.files) == 1:
        rel = m.files[0][0].relative_to(root).as_posix()
        keys += [rel, str(Path(rel).with_suffix("")), m.files[0][0].name, m.files[0][0].stem]
    else:
        keys.append(Path(m.key).stem)
    return [k for k in keys if k]


def caption_of(m: Member, captions: dict[str, str], root: Path) -> str | None:
    for key in caption_keys(m, root):
        if key in captions:
            return captions[key]
    return None


def cmd_dataset(a: argparse.Namespace) -> int:
    import json
    import shutil
    from collections import Counter
    from datetime import datetime

    from .medtrinity import detect_modality, load_questions, neutralise, question_for, split_of

    started = __import__("time").monotonic()
    source = Path(a.source)
    if not source.is_dir():
        protocol.fail("NO_SOURCE", "the scan source is not a folder", "pass a folder of DICOM files or NIfTI volumes")
    captions = read_captions(Path(a.captions)) if a.captions else None
    pools = {lang: load_questions(Path(a.templates) / f"{lang}.txt") for lang in ("en", "zh")}
    if a.lang != "mixed":
        pools = {a.lang: pools[a.lang]}
    window = parse_window(a.window)
    try:
        spec = parse_slices(a.slices)
    except ValueError as err:
        protocol.fail("BAD_ARGS", f"--slices {a.slices}: {err}")
    data_dir = Path(a.data_dir).resolve()
    ds = data_dir / a.name
    if ds.exists() and not a.force:
        what = "already exists" if (ds / "manifest.json").exists() else "is a folder medtune did not make"
        protocol.fail("DATASET_EXISTS", f"dataset {a.name} {what} ({ds})", "pass --force to replace it, or choose another --name")
    work = data_dir / f".{a.name}.scans-{os.getpid()}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    images_dir = work / "images"
    units = members(source)
    skipped: Counter[str] = Counter()
    refusals: list[dict[str, Any]] = []
    rows: dict[str, list[str]] = {"train": [], "val": []}
    modalities: dict[str, Counter[str]] = {"train": Counter(), "val": Counter()}
    used_keys: set[str] = set()
    neutralised = 0
    for n, m in enumerate(units):
        protocol.progress("scans", n, len(units), unit="series")
        caption = None
        if captions is not None:
            caption = caption_of(m, captions, source)
            if caption is None and m.refused is None:
                skipped["no_caption"] += 1
                continue
        try:
            pic = convert_member(m, window, spec)
        except Refused as r:
            skipped[r.code.lower()] += 1
            # Where a refusal came from is said by its number in the source's sorted walk, not by its path.
            refusals.append({"member": n, "code": r.code, "reason": r.reason})
            continue
        if captions is not None:
            used_keys.update(k for k in caption_keys(m, source) if k in captions)
        imgs = write_picture(pic, images_dir, settings_tag(window))
        rid = f"scan-{pic.digest}"
        if caption is not None:
            caption, changed = neutralise(caption)
            neutralised += int(changed)
        modality = detect_modality(caption) if caption else "other"
        if modality == "other":
            modality = DICOM_MODALITY.get(pic.modality, "other")
        split = split_of(rid, a.val_ratio) if caption is not None else "train"
        question = question_for(rid, a.lang, pools)
        rel = [f"{a.name}/images/{Path(i['file']).name}" for i in imgs]
        row = {"messages": [{"role": "user", "content": "<image>" * len(rel) + question},
                            {"role": "assistant", "content": caption or ""}],
               "images": rel, "id": rid, "modality": modality}
        rows[split].append(json.dumps(row, ensure_ascii=False))
        modalities[split][modality] += 1
    protocol.progress("scans", len(units), len(units), unit="series", force=True)
    kept = len(rows["train"]) + len(rows["val"])
    warnings_out = []
    if captions is not None:
        unused = [k for k in captions if k not in used_keys]
        if unused:
            warnings_out.append(f"{len(unused)} caption line(s) matched no series in the source")
    if kept == 0:
        shutil.rmtree(work, ignore_errors=True)
        protocol.fail("NOTHING_KEPT", f"no usable scan in the source ({len(units)} series or files looked at)",
                      details=[f"{k}: {v}" for k, v in skipped.most_common()] or None,
                      next="check the folder (DICOM or NIfTI) and that the captions CSV names its series")
    work.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for split in ("train", "val"):
        text = "".join(r + "\n" for r in rows[split])
        digest.update(text.encode("utf-8"))
        if split == "train" or rows["val"]:
            (work / f"{split}.jsonl").write_text(text, encoding="utf-8")
    manifest = {
        "format": "medtune-dataset/1",
        "name": a.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "converter": 1,
        "plan_hash": digest.hexdigest(),
        "source": {"spec": "scans", "kind": "scans", "layout": "scans", "root": str(source.resolve()), "files": len(units)},
        "options": {"limit": None, "val_ratio": a.val_ratio, "modality": None, "lang": a.lang, "max_pixels": 0,
                    "unit_rows": 0, "window": a.window, "slices": a.slices, "captions": captions is not None},
        "counts": {"rows_read": len(units), "kept": kept, "train": len(rows["train"]), "val": len(rows["val"]),
                   "skipped": dict(sorted(skipped.items())), "converted": kept, "copied": 0, "neutralised": neutralised,
                   "unmatched_images": 0, "trimmed_by_limit": 0, "limit_reached": False},
        "modalities": {k: dict(sorted(v.items())) for k, v in modalities.items()},
        "files": {"train": "train.jsonl", "val": "val.jsonl" if rows["val"] else None, "images": "images/"},
        "content_hash": digest.hexdigest(),
        "warnings": warnings_out,
        "refused": refusals,
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    # The finished folder replaces the old one in two renames: a crash leaves either the old or the new dataset.
    old = data_dir / f".{a.name}.old-{os.getpid()}"
    if ds.exists():
        os.replace(ds, old)
    os.replace(work, ds)
    shutil.rmtree(old, ignore_errors=True)
    protocol.result(name=a.name, dir=str(ds), kept=kept, skipped=dict(sorted(skipped.items())), train=len(rows["train"]),
                    val=len(rows["val"]), rows_read=len(units), converted=kept, copied=0, neutralised=neutralised,
                    modalities=manifest["modalities"], content_hash=digest.hexdigest(), source="scans", layout="scans",
                    limit_reached=False, warnings=warnings_out, reused=False, resumed_units=0, processed_units=len(units),
                    units=len(units), seconds=round(__import__("time").monotonic() - started, 2), refused=refusals)
    return 0


def main(argv: list[str]) -> int:
    dset = argparse.ArgumentParser(prog="medtune_py.scan_dataset", description=__doc__.split("\n")[0])
    dset.add_argument("--source", required=True)
    dset.add_argument("--data-dir", required=True)
    dset.add_argument("--name", required=True)
    dset.add_argument("--captions", help="CSV: series,caption (without it: an inference set, empty answers)")
    dset.add_argument("--val-ratio", type=float, default=0.0)
    dset.add_argument("--lang", choices=["en", "zh", "mixed"], default="en")
    dset.add_argument("--templates", required=True)
    dset.add_argument("--window", default="auto")
    dset.add_argument("--slices", default="middle")
    dset.add_argument("--force", action="store_true")
    return cmd_dataset(dset.parse_args(argv))


if __name__ == "__main__":
    protocol.run(main)
