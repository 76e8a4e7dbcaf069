"""Converts a medical VQA benchmark (VQA-RAD, SLAKE, PathVQA: parquet of image + question + answer) into a
LLaMA-Factory sharegpt dataset, once.

    python -m medtune_py.bench_prepare --bench ID --repo OWNER/NAME --splits test[,train,validation]
        --data-dir WS/data --name NAME [--source DIR] [--cache DIR] [--columns image,question,answer] [--force]

The parquet files come from the Hub (huggingface_hub's snapshot_download of data/<split>-*.parquet, the layout
those repositories use) or from --source DIR, a local copy: any *.parquet under DIR whose name starts with
`<split>-` or `<split>.`, or that sits in a folder named after the split (the Hub's refs/convert/parquet layout).

Writes WS/data/NAME/{images/<split>/, <split>.jsonl (validation → val.jsonl), manifest.json}; one user turn
(`<image>` + the question) and one assistant turn (the reference answer) per row, in the benchmark's row order.
The folder is built beside its final place and renamed in, so a killed run leaves no half-written dataset.
Running it again on the same files reuses the finished dataset. Registering the entries is the caller's job.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from . import protocol
from .data_prepare import _Lock
from .medtrinity import inspect_image
from .medtrinity_sources import _image_bytes, _probe, _truthy, file_fingerprint

FORMAT = "medtune-dataset/1"
CONVERTER_VERSION = 1
# Benchmark images are small; this only stops a decompression bomb.
MAX_PIXELS = 8192 * 8192


def split_file(split: str) -> str:
    return "val.jsonl" if split == "validation" else f"{split}.jsonl"


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def find_split_files(root: Path, split: str) -> list[Path]:
    """The parquet files of one split under a local copy (the Hub's data/ layout or refs/convert/parquet's)."""
    out = []
    for f in root.rglob("*.parquet"):
        if not f.is_file() or _hidden(f, root):
            continue
        name = f.name
        if name.startswith(f"{split}-") or name == f"{split}.parquet" or f.parent.name == split:
            out.append(f)
    return sorted(out)


def _cached(repo: str, patterns: list[str], cache: Path) -> Path | None:
    """An earlier download of the same files, when there is one (used when the Hub cannot be reached)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, repo_type="dataset", cache_dir=str(cache), allow_patterns=patterns,
                                      local_files_only=True))
    except Exception:  # noqa: BLE001 - nothing cached is the common case and ends the same way
        return None


def fetch_hub(repo: str, splits: list[str], cache: Path) -> Path:
    page = f"https://huggingface.co/datasets/{repo}"
    manual = f"or download the parquet files from {page}/tree/main/data and pass their folder with --bench-source DIR"
    patterns = [f"data/{s}-*.parquet" for s in splits] + [f"data/{s}.parquet" for s in splits]
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    proxied = any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    offline = "HF_HUB_OFFLINE is set" if _truthy(os.environ.get("HF_HUB_OFFLINE")) else None
    if not offline and not proxied:
        why = _probe(endpoint)
        if why:
            offline = f"the Hugging Face Hub ({endpoint}) cannot be reached: {why}"
    if offline:
        cached = _cached(repo, patterns, cache)
        if cached is not None and any(cached.rglob("*.parquet")):
            protocol.log(f"{offline}; using the earlier download of {repo} (revision {cached.name[:12]})")
            return cached
        protocol.fail("HUB_OFFLINE" if offline.startswith("HF_HUB_OFFLINE") else "HUB_UNREACHABLE",
                      f"{offline}, and {repo} was never downloaded on this machine",
                      next=(f"unset HF_HUB_OFFLINE, {manual}" if offline.startswith("HF_HUB_OFFLINE")
                            else f"check the network, proxy or HF_ENDPOINT; {manual}"))
    from huggingface_hub import snapshot_download

    protocol.progress(f"downloading {repo}", 0, None, message=", ".join(splits), force=True)
    try:
        path = snapshot_download(repo, repo_type="dataset", cache_dir=str(cache), allow_patterns=patterns)
    except Exception as err:  # noqa: BLE001 - network and Hub errors of every kind end the same way
        protocol.fail("HUB_DOWNLOAD", f"downloading {repo} failed: {type(err).__name__}: {str(err).splitlines()[0]}",
                      next=f"run the same command again (finished files are kept), {manual}")
    return Path(path)


def check_schema(files: list[Path], columns: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        try:
            schema = pq.read_schema(f)
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a non-parquet file
            protocol.fail("BAD_SOURCE", f"{f} is not a readable parquet file ({type(err).__name__}: {err})")
        names = schema.names
        missing = [c for c in columns.values() if c not in names]
        if missing:
            protocol.fail("BAD_SCHEMA", f"{f.name} has columns {names}; the benchmark needs {list(columns.values())} "
                                        f"(missing: {', '.join(missing)})",
                          next="pass the benchmark's own parquet files (its data/ folder on the Hub)")
        image = schema.field(columns["image"]).type
        image_ok = (pa.types.is_binary(image) or pa.types.is_large_binary(image)
                    or (pa.types.is_struct(image) and image.get_field_index("bytes") >= 0))
        if not image_ok:
            protocol.fail("BAD_SCHEMA", f"{f.name}: column {columns['image']!r} is {image}, not an image "
                                        "(a struct of bytes and path, or binary)")
        for key in ("question", "answer"):
            t = schema.field(columns[key]).type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
                protocol.fail("BAD_SCHEMA", f"{f.name}: column {columns[key]!r} is {t}, not text")


def convert_split(split: str, files: list[Path], root: Path, out: Path, name: str, columns: dict[str, str]) -> dict:
    """Writes one split into `out`; rows name their images under `name`, the folder's final name in dataset_dir."""
    import pyarrow.parquet as pq

    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    img_dir = out / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    counts = {"rows": 0, "kept": 0, "skipped": {}, "copied": 0, "converted": 0}
    done = 0
    with open(out / split_file(split), "w", encoding="utf-8") as jf:
        for f in files:
            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(batch_size=64, columns=[columns["image"], columns["question"], columns["answer"]]):
                images = batch.column(columns["image"]).to_pylist()
                questions = batch.column(columns["question"]).to_pylist()
                answers = batch.column(columns["answer"]).to_pylist()
                for img, q, a in zip(images, questions, answers, strict=True):
                    index = done
                    done += 1
                    counts["rows"] += 1
                    reason = None
                    if not isinstance(q, str) or not q.strip():
                        reason = "empty_question"
                    elif not isinstance(a, str) or not a.strip():
                        reason = "empty_answer"
                    outcome = None
                    if reason is None:
                        outcome = inspect_image(_image_bytes(img, str(root)), MAX_PIXELS)
                        if not outcome.ok:
                            reason = outcome.reason
                    if reason is not None:
                        counts["skipped"][reason] = counts["skipped"].get(reason, 0) + 1
                        continue
                    rel = f"images/{split}/{index:06d}{outcome.ext}"
                    (out / rel).write_bytes(outcome.data)
                    counts["converted" if outcome.converted else "copied"] += 1
                    # `<image>` is LLaMA-Factory's placeholder; a question that already holds one would break the
                    # one-placeholder-per-image rule, so it is spelled out.
                    question = q.strip().replace("<image>", "(image)")
                    row = {"id": f"{split}-{index:06d}", "index": index,
                           "messages": [{"role": "user", "content": f"<image>{question}"},
                                        {"role": "assistant", "content": a.strip()}],
                           "images": [f"{name}/{rel}"]}
                    jf.write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts["kept"] += 1
                protocol.progress(f"converting {split}", done, total, unit="rows")
        jf.flush()
        os.fsync(jf.fileno())
    return counts


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m medtune_py.bench_prepare")
    ap.add_argument("--bench", required=True, help="benchmark id, e.g. vqa-rad")
    ap.add_argument("--repo", required=True, help="Hub dataset id, e.g. flaviagiammarino/vqa-rad")
    ap.add_argument("--splits", required=True, help="comma-separated: test, train, validation")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--source", help="a local copy of the benchmark's parquet files instead of the Hub")
    ap.add_argument("--cache", help="Hub download cache (default: DATA_DIR/.sources/hub)")
    ap.add_argument("--columns", default="image,question,answer", help="image,question,answer column names")
    ap.add_argument("--optional-splits", default="", help="splits that may be absent (e.g. validation)")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    started = time.monotonic()
    splits = [s for s in a.splits.split(",") if s]
    optional = {s for s in a.optional_splits.split(",") if s}
    cols = a.columns.split(",")
    if len(cols) != 3:
        protocol.fail("BAD_OPTION", "--columns takes three names: image,question,answer")
    columns = dict(zip(("image", "question", "answer"), cols, strict=True))
    data_dir = Path(a.data_dir).resolve()
    dest = data_dir / a.name

    if a.source:
        root = Path(a.source).expanduser().resolve()
        if not root.is_dir():
            protocol.fail("SOURCE_NOT_FOUND", f"{a.source} is not a folder",
                          next=f"pass the folder holding {a.repo}'s parquet files (its data/ folder, or above it)")
        kind = "local"
    else:
        root = fetch_hub(a.repo, splits, Path(a.cache) if a.cache else data_dir / ".sources" / "hub")
        kind = "hub"

    # One conversion of a dataset folder at a time (two evals of the same benchmark may start together).
    data_dir.mkdir(parents=True, exist_ok=True)
    with _Lock(data_dir / f".{a.name}.prepare.lock"):
        return _convert(a, root, kind, splits, optional, columns, data_dir, dest, started)


def _convert(a: argparse.Namespace, root: Path, kind: str, splits: list[str], optional: set[str], columns: dict[str, str],
             data_dir: Path, dest: Path, started: float) -> int:
    found: dict[str, list[Path]] = {}
    for s in splits:
        files = find_split_files(root, s)
        if not files and s not in optional:
            present = sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet") if not _hidden(p, root))
            protocol.fail("BAD_SOURCE", f"no parquet files of the {s} split of {a.bench} under {root}",
                          next=f"expected data/{s}-NNNNN-of-NNNNN*.parquet as on {a.repo}; found: "
                               f"{', '.join(present[:10]) or 'no parquet files'}")
        if files:
            found[s] = files
    all_files = [f for fs in found.values() for f in fs]
    check_schema(all_files, columns)

    plan = {"v": CONVERTER_VERSION, "bench": a.bench, "columns": columns,
            "files": {s: [[str(f.relative_to(root)), file_fingerprint(f)] for f in fs] for s, fs in found.items()}}
    plan_hash = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
    manifest_path = dest / "manifest.json"
    if manifest_path.is_file() and not a.force:
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("plan_hash") == plan_hash:
            protocol.result(**_summary(old, dest, reused=True, seconds=round(time.monotonic() - started, 2)))
            return 0
        if old.get("bench", {}).get("id") != a.bench:
            protocol.fail("DATASET_EXISTS", f"dataset {a.name} already exists and is not {a.bench}",
                          next="pass --force to replace it, or choose another --name")
    elif dest.exists() and any(dest.iterdir()) and not a.force:
        protocol.fail("DATASET_EXISTS", f"{dest} is not empty and was not made from {a.bench}",
                      next="pass --force to replace its contents, or choose another --name")

    tmp = data_dir / f".{a.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    try:
        per_split = {}
        for s, files in found.items():
            c = convert_split(s, files, root, tmp, a.name, columns)
            per_split[s] = {**c, "file": f"{a.name}/{split_file(s)}", "files": len(files)}
        kept = sum(c["kept"] for c in per_split.values())
        skipped: dict[str, int] = {}
        for c in per_split.values():
            for k, v in c["skipped"].items():
                skipped[k] = skipped.get(k, 0) + v
        manifest = {
            "format": FORMAT, "name": a.name, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {"spec": f"bench:{a.bench}", "kind": kind, "layout": "bench", "root": str(root), "files": len(all_files),
                       # A Hub snapshot folder is named after the dataset commit it holds.
                       "revision": root.name if kind == "hub" else None},
            "options": {"limit": None, "val_ratio": 0, "modality": None, "lang": "en", "max_pixels": MAX_PIXELS, "unit_rows": 0},
            "counts": {"rows_read": sum(c["rows"] for c in per_split.values()), "kept": kept,
                       "train": per_split.get("train", {}).get("kept", 0), "val": per_split.get("validation", {}).get("kept", 0),
                       "skipped": skipped, "converted": sum(c["converted"] for c in per_split.values()),
                       "copied": sum(c["copied"] for c in per_split.values()), "neutralised": 0,
                       "unmatched_images": 0, "trimmed_by_limit": 0, "limit_reached": False},
            "modalities": {"train": {}, "val": {}},
            "content_hash": plan_hash, "warnings": [], "plan_hash": plan_hash,
            "bench": {"id": a.bench, "repo": a.repo, "splits": per_split},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        old_dir = None
        if dest.exists():
            old_dir = data_dir / f".{a.name}.{os.getpid()}.old"
            os.replace(dest, old_dir)
        os.replace(tmp, dest)
        if old_dir is not None:
            shutil.rmtree(old_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    protocol.result(**_summary(manifest, dest, reused=False, seconds=round(time.monotonic() - started, 2)))
    return 0


def _summary(manifest: dict, dest: Path, **extra: object) -> dict:
    b = manifest["bench"]
    return {"name": manifest["name"], "dir": str(dest), "bench": b["id"], "repo": b["repo"],
            "source": manifest["source"], "splits": b["splits"], "skipped": manifest["counts"]["skipped"], **extra}


if __name__ == "__main__":
    protocol.run(main)
