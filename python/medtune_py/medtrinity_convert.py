"""Converting MedTrinity units into LLaMA-Factory rows (in worker processes) and merging the finished units.

A unit writes `images/<unit>/…` and `.work/units/<unit>.jsonl` + `.meta` (one line per kept row: id hash, split,
image sha256, modality, file name, copied|converted), then a `<unit>.done.json` marker, in that order. A unit without a marker is
treated as never started: its partial files and images are deleted and it is redone. The merge reads the finished
units in source order, drops cross-unit duplicate ids and rows past --limit, and writes train.jsonl / val.jsonl.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .hostile_guard import caption_problem
from .medtrinity import id_digest, inspect_image, modality_of, neutralise, question_for, safe_stem, split_of
from .medtrinity_sources import ArchiveTruncated, Unit, iter_archive, iter_demo_rows, iter_full_captions


@dataclass(frozen=True)
class Settings:
    name: str
    ds_dir: str
    work_dir: str
    source_root: str
    val_ratio: float
    lang: str
    modalities: frozenset[str] | None
    max_pixels: int
    cap: int | None
    pools: dict[str, list[str]]
    index_db: str | None


_report: Callable[[str, int, int], None] = lambda key, rows, kept: None  # noqa: E731 - replaced per process


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive a killed helper (it would keep writing into a unit the rerun is redoing)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the parent check between rows still stops the worker
    if os.getppid() != parent:
        os._exit(1)


def init_process(max_pixels: int, report: Callable[[str, int, int], None]) -> None:
    global _report
    _report = report
    # PIL refuses at 2x this; our own header check refuses at 1x (see inspect_image).
    Image.MAX_IMAGE_PIXELS = max_pixels


def init_worker(queue, parent: int, max_pixels: int) -> None:
    _die_with_parent(parent)
    init_process(max_pixels, lambda key, rows, kept: queue.put((key, rows, kept)))


def unit_files(work_dir: str, key: str) -> dict[str, Path]:
    base = Path(work_dir) / "units"
    return {"rows": base / f"{key}.jsonl", "meta": base / f"{key}.meta", "done": base / f"{key}.done.json"}


def clean_unit(settings: Settings, key: str) -> None:
    shutil.rmtree(Path(settings.ds_dir) / "images" / key, ignore_errors=True)
    for p in unit_files(settings.work_dir, key).values():
        for q in (p, p.with_name(p.name + ".part")):
            q.unlink(missing_ok=True)


def read_done(work_dir: str, unit: Unit) -> dict | None:
    """The counts of a finished unit, or None when it must be (re)done."""
    try:
        marker = json.loads(unit_files(work_dir, unit.key)["done"].read_text())
    except (OSError, ValueError):
        return None
    if marker.get("fingerprint") != unit.fingerprint or marker.get("truncated"):
        # A truncated archive may have been re-downloaded since: try it again.
        return None
    return marker["counts"]


def _fsync_close(f) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


class _UnitWriter:
    def __init__(self, unit: Unit, s: Settings):
        self.unit, self.s = unit, s
        self.img_dir = Path(s.ds_dir) / "images" / unit.key
        self.img_dir.mkdir(parents=True, exist_ok=True)
        self.files = unit_files(s.work_dir, unit.key)
        self.files["rows"].parent.mkdir(parents=True, exist_ok=True)
        # Open for the unit's whole life; close() or abort() ends them.
        self.rows = open(self.files["rows"].with_name(self.files["rows"].name + ".part"), "w", encoding="utf-8")  # noqa: SIM115
        self.meta = open(self.files["meta"].with_name(self.files["meta"].name + ".part"), "w", encoding="utf-8")  # noqa: SIM115
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self._unreported = [0, 0]

    def read(self) -> None:
        self.counts["rows_read"] += 1
        self._unreported[0] += 1
        if self._unreported[0] >= 32:
            self.flush_progress()

    def flush_progress(self) -> None:
        _report(self.unit.key, *self._unreported)
        self._unreported = [0, 0]

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def full(self) -> bool:
        return self.s.cap is not None and self.counts["kept"] >= self.s.cap

    def keep(self, rid: str, caption: str, modality: str, data: bytes | None) -> bool:
        """Image checks, then the image file and the row; every way out is counted."""
        if rid in self.seen:
            self.skip("duplicate_id")
            return False
        outcome = inspect_image(data, self.s.max_pixels)
        if not outcome.ok:
            self.skip(outcome.reason)
            return False
        fname = safe_stem(rid) + outcome.ext
        try:
            # "x": never overwrite; the hash suffix makes a clash mean the very same id.
            with open(self.img_dir / fname, "xb") as f:
                f.write(outcome.data)
        except FileExistsError:
            self.skip("duplicate_id")
            return False
        self.seen.add(rid)
        rel = f"{self.s.name}/images/{self.unit.key}/{fname}"
        question = question_for(rid, self.s.lang, self.s.pools)
        row = {"messages": [{"role": "user", "content": f"<image>{question}"},
                            {"role": "assistant", "content": caption}],
               "images": [rel], "id": rid, "modality": modality}
        self.rows.write(json.dumps(row, ensure_ascii=False) + "\n")
        sha = hashlib.sha256(outcome.data).hexdigest()
        self.meta.write(f"{id_digest(rid)[:16]}\t{split_of(rid, self.s.val_ratio)}\t{sha}\t{modality}\t{fname}\t"
                        f"{'converted' if outcome.converted else 'copied'}\n")
        self.counts["kept"] += 1
        self._unreported[1] += 1
        return True

    def finish(self, truncated: str | None) -> dict:
        self.flush_progress()
        _fsync_close(self.rows)
        _fsync_close(self.meta)
        for key in ("rows", "meta"):
            os.replace(self.files[key].with_name(self.files[key].name + ".part"), self.files[key])
        counts = {**{k: self.counts[k] for k in ("rows_read", "kept", "neutralised", "unmatched_images")},
                  "skipped": dict(self.skipped)}
        marker = {"key": self.unit.key, "fingerprint": self.unit.fingerprint, "counts": counts, "truncated": truncated}
        tmp = self.files["done"].with_name(self.files["done"].name + ".part")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(marker, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.files["done"])
        return counts


def run_unit(unit: Unit, s: Settings) -> dict:
    """Converts one unit; returns its counts (also recorded in its done marker)."""
    w = _UnitWriter(unit, s)
    parent = os.getppid()
    truncated = None
    if unit.kind == "parquet":
        for rid, caption, data in iter_demo_rows(unit, s.source_root):
            if w.full():
                break
            w.read()
            if w.counts["rows_read"] % 256 == 0 and os.getppid() != parent:
                os._exit(1)
            rid = rid.strip() if isinstance(rid, str) else None
            if not rid:
                w.skip("missing_id")
                continue
            if not isinstance(caption, str) or not caption.strip():
                w.skip("empty_caption")
                continue
            caption, changed = neutralise(caption)
            if not caption:
                w.skip("empty_caption")
                continue
            if caption_problem(caption):
                w.skip("caption_too_long")
                continue
            modality = modality_of(caption)
            if s.modalities is not None and modality not in s.modalities:
                w.skip("modality_filter")
                continue
            if w.keep(rid, caption, modality, data) and changed:
                w.counts["neutralised"] += 1
    else:
        db = sqlite3.connect(f"file:{s.index_db}?mode=ro", uri=True)
        try:
            for name, data in iter_archive(unit.path):
                if w.full():
                    break
                hit = db.execute("SELECT caption, modality FROM cap WHERE name = ?", (name,)).fetchone()
                if hit is None:
                    w.counts["unmatched_images"] += 1
                    continue
                w.read()
                if data is None:
                    w.skip("image_too_large")
                    continue
                w.keep(name, hit[0], hit[1], data)
        except ArchiveTruncated as err:
            truncated = str(err)
        finally:
            db.close()
    return {**w.finish(truncated), "truncated": truncated}


# ---------------------------------------------------------------------------------------------------------
# 25M_full: the caption index (file name → caption, modality) lives in SQLite so memory stays flat at 25M rows.

def build_caption_index(parquet: list[str], db_path: Path, modalities: frozenset[str] | None,
                        on_progress: Callable[[int], None]) -> dict:
    tmp = db_path.with_name(db_path.name + ".part")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE cap (name TEXT PRIMARY KEY, caption TEXT NOT NULL, modality TEXT NOT NULL) WITHOUT ROWID")
    skipped: Counter[str] = Counter()
    rows = neutralised = 0
    batch: list[tuple[str, str, str]] = []

    def flush() -> None:
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO cap VALUES (?, ?, ?)", batch)
        dups = len(batch) - (db.total_changes - before)
        if dups:
            skipped["duplicate_id"] += dups
        batch.clear()

    for name, caption, source in iter_full_captions(parquet):
        rows += 1
        name = os.path.basename(name.replace("\\", "/")).strip() if isinstance(name, str) else ""
        if not name:
            skipped["missing_id"] += 1
            continue
        if not isinstance(caption, str) or not caption.strip():
            skipped["empty_caption"] += 1
            continue
        caption, changed = neutralise(caption)
        modality = modality_of(caption, source if isinstance(source, str) else None)
        if modalities is not None and modality not in modalities:
            skipped["modality_filter"] += 1
            continue
        neutralised += int(changed)
        batch.append((name, caption, modality))
        if len(batch) >= 20000:
            flush()
            on_progress(rows)
    flush()
    on_progress(rows)
    db.commit()
    eligible = db.execute("SELECT count(*) FROM cap").fetchone()[0]
    db.close()
    os.replace(tmp, db_path)
    return {"rows_read": rows, "eligible": eligible, "neutralised": neutralised, "skipped": dict(skipped)}


# ---------------------------------------------------------------------------------------------------------
# Merge

def _meta_lines(s: Settings, key: str):
    with open(unit_files(s.work_dir, key)["meta"], encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n").split("\t")


def merge(units: list[Unit], s: Settings, limit: int | None) -> dict:
    """Writes train.jsonl and val.jsonl from finished units (in order) and returns what was kept."""
    import numpy as np

    # Duplicate ids across units are rare; find them from 8-byte hashes (200 MB at 25M rows) instead of a set of
    # every id, then track only those few while streaming.
    arrays = [np.fromiter((int(m[0], 16) for m in _meta_lines(s, u.key)), dtype=np.uint64) for u in units]
    every = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64)
    uniq, counts = np.unique(every, return_counts=True)
    repeated = {int(h) for h in uniq[counts > 1]}
    del every, uniq, counts, arrays

    ds = Path(s.ds_dir)
    # Both splits are written in one pass and closed together below.
    out = {split: open(ds / f".{split}.jsonl.part", "w", encoding="utf-8") for split in ("train", "val")}  # noqa: SIM115
    seen: set[int] = set()
    kept = {"train": 0, "val": 0}
    modalities: dict[str, Counter[str]] = {"train": Counter(), "val": Counter()}
    dropped: Counter[str] = Counter()
    stored: Counter[str] = Counter()
    content = hashlib.sha256()
    for u in units:
        files = unit_files(s.work_dir, u.key)
        with open(files["rows"], encoding="utf-8") as rows:
            for line, (h, split, sha, modality, fname, how) in zip(rows, _meta_lines(s, u.key), strict=False):
                hv = int(h, 16)
                reason = None
                if limit is not None and kept["train"] + kept["val"] >= limit:
                    reason = "trimmed_by_limit"
                elif hv in repeated:
                    if hv in seen:
                        reason = "duplicate_id"
                    seen.add(hv)
                if reason:
                    dropped[reason] += 1
                    (ds / "images" / u.key / fname).unlink(missing_ok=True)
                    continue
                out[split].write(line)
                content.update(line.encode())
                content.update(sha.encode())
                kept[split] += 1
                modalities[split][modality] += 1
                stored[how] += 1
    for split, f in out.items():
        _fsync_close(f)
        if kept[split] or split == "train":
            os.replace(ds / f".{split}.jsonl.part", ds / f"{split}.jsonl")
        else:
            # An empty val file would make LLaMA-Factory fail on load; no val rows means no val file at all.
            (ds / f".{split}.jsonl.part").unlink()
            (ds / f"{split}.jsonl").unlink(missing_ok=True)
    return {"train": kept["train"], "val": kept["val"], "dropped": dict(dropped), "converted": stored["converted"],
            "copied": stored["copied"], "content_hash": content.hexdigest(),
            "modalities": {k: dict(sorted(v.items())) for k, v in modalities.items()}}
