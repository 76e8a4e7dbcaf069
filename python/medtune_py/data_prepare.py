"""Converts MedTrinity-25M (Hub, local parquet, or the bundled sample set) into a LLaMA-Factory sharegpt dataset.

    python -m medtune_py.data_prepare --data-dir WS/data --name NAME [--source sample|hub:25M_demo|hub:25M_full|PATH]
        [--limit N] [--val-ratio R] [--modality CT,MRI] [--lang en|zh|mixed] [--workers N] [--max-pixels N]
        [--unit-rows N] [--templates DIR] [--cache DIR] [--force]

Writes WS/data/NAME/{images/, train.jsonl, val.jsonl, manifest.json}; image paths in the jsonl are relative to
WS/data (LLaMA-Factory's dataset_dir, which is also its default media_dir). Registering the entries in
dataset_info.json is the caller's job (medtune does it under a lock).

Memory stays flat (one record batch or archive member per worker), units run in parallel, and a killed run
resumes: finished units are kept, unfinished ones are redone, and the result is the same as an uninterrupted run.
Running it again with the same source and options reuses the finished dataset.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import queue as queue_mod
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from . import protocol
from .medtrinity import DEFAULT_MAX_PIXELS, load_questions, parse_modalities
from .medtrinity_convert import Settings, build_caption_index, clean_unit, init_process, init_worker, merge, read_done, run_unit
from .medtrinity_sources import Source, Unit, estimate_disk, file_fingerprint, plan_units, resolve

FORMAT = "medtune-dataset/1"
# Bump when the rows or images produced for the same input change: old datasets then count as different plans.
CONVERTER_VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "questions"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A killed process lingers as a zombie until its parent reaps it; it holds nothing any more.
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class _Lock:
    """One prepare per dataset folder at a time; a lock left by a killed run is taken over."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> _Lock:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    owner = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    owner = 0
                if owner and _pid_alive(owner):
                    protocol.fail("BUSY", f"dataset folder {self.path.parent} is being prepared by process {owner}",
                                  next="wait for it to finish (or stop it), then run this again")
                self.path.unlink(missing_ok=True)
        protocol.fail("BUSY", f"could not take the lock {self.path}")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _wipe(ds: Path) -> None:
    for child in ds.iterdir():
        if child.name == ".prepare.lock":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _plan_hash(source: Source, units: list[Unit], options: dict, pools: dict[str, list[str]]) -> str:
    captions = [file_fingerprint(Path(p)) for p in source.parquet] if source.layout == "full" else []
    body = {"v": CONVERTER_VERSION, "layout": source.layout, "options": options, "pools": pools, "captions": captions,
            "units": [[u.key, u.fingerprint, u.row_groups] for u in units]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _summary(manifest: dict, ds: Path, **extra: object) -> dict:
    c = manifest["counts"]
    return {"name": manifest["name"], "dir": str(ds), "kept": c["kept"], "skipped": c["skipped"],
            "train": c["train"], "val": c["val"], "rows_read": c["rows_read"], "converted": c["converted"],
            "copied": c["copied"], "neutralised": c["neutralised"], "modalities": manifest["modalities"],
            "content_hash": manifest["content_hash"], "source": manifest["source"]["spec"],
            "layout": manifest["source"]["layout"], "limit_reached": c["limit_reached"],
            "warnings": manifest.get("warnings", []), **extra}


class _Progress:
    """Live counts for the rows phase: finished units from their markers, running ones from worker reports."""

    def __init__(self, units: list[Unit], done: dict[str, dict], limit: int | None, layout: str):
        self.units, self.done, self.limit = units, done, limit
        self.total_rows = sum(u.rows for u in units) if layout == "demo" else None
        self.live: dict[str, list[int]] = {}

    def update(self, key: str, rows: int, kept: int) -> None:
        cur = self.live.setdefault(key, [0, 0])
        cur[0] += rows
        cur[1] += kept

    def finish(self, key: str, counts: dict) -> None:
        self.live.pop(key, None)
        self.done[key] = counts

    def emit(self, force: bool = False) -> None:
        rows = sum(c["rows_read"] for c in self.done.values()) + sum(v[0] for v in self.live.values())
        kept = sum(c["kept"] for c in self.done.values()) + sum(v[1] for v in self.live.values())
        msg = f"{len(self.done)}/{len(self.units)} shards · {kept} kept · {rows - kept} skipped"
        if self.limit is not None:
            protocol.progress("converting", min(kept, self.limit), self.limit, unit="rows", message=msg, force=force)
        else:
            protocol.progress("converting", rows, self.total_rows, unit="rows", message=msg, force=force)

    def prefix(self) -> list[Unit]:
        """The leading run of finished units (rows are taken in source order)."""
        out = []
        for u in self.units:
            if u.key not in self.done:
                break
            out.append(u)
        return out

    def limit_reached(self) -> bool:
        return self.limit is not None and sum(self.done[u.key]["kept"] for u in self.prefix()) >= self.limit


# Units are what the workers share: with fewer units than workers, cores sit idle (a 6,000-row set in 1,000-row
# units kept 6 of 16 workers busy). The size depends on the data only, never on --workers, so a run resumed with
# another worker count keeps its finished units.
MIN_UNITS = 64
MAX_UNIT_ROWS = 1000


def _auto_unit_rows(source: Source) -> int:
    if source.layout != "demo":
        return MAX_UNIT_ROWS
    import pyarrow.parquet as pq

    total = sum(pq.ParquetFile(f).metadata.num_rows for f in source.parquet)
    return max(1, min(MAX_UNIT_ROWS, -(-total // MIN_UNITS)))


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _check_disk(a: argparse.Namespace, ds: Path, source: Source, units: list[Unit], pending: set[str],
                index_pending: bool) -> None:
    """Refuses to start when the estimated output does not fit: better now than a full disk hours in."""
    est = estimate_disk(source, units, pending)
    if not index_pending:
        est["bytes"] -= int(1.1 * est["index"])
    need = max(0, est["bytes"])
    if a.limit is not None and units:
        # --limit stops early: scale by the share of rows it keeps (at least one unit's worth).
        total_rows = sum(u.rows for u in units) or None
        if total_rows:
            need = int(need * min(1.0, max(a.limit, max(u.rows for u in units)) / total_rows))
    free = shutil.disk_usage(ds).free
    reserve = int(a.min_free_gib * 2**30)
    protocol.log(f"disk: about {_gib(need)} to write (images {_gib(est['images'])}, rows {_gib(est['rows'])}"
                 f"{', caption index ' + _gib(est['index']) if est['index'] else ''}); {_gib(free)} free on {ds}")
    if need + reserve > free:
        protocol.fail("DISK_SPACE",
                      f"preparing {a.name} needs about {_gib(need)} on {ds}, which has {_gib(free)} free"
                      f" (and {_gib(reserve)} is to stay free: --min-free-gib)",
                      next="free some space, give --data-dir on a larger disk, or convert fewer rows with --limit")


def _run_units(pending: list[Unit], prog: _Progress, s: Settings, workers: int) -> None:
    if workers <= 1:
        init_process(s.max_pixels, lambda key, rows, kept: (prog.update(key, rows, kept), prog.emit()))
        for u in pending:
            if prog.limit_reached():
                return
            prog.finish(u.key, run_unit(u, s))
            prog.emit(force=True)
        return
    # spawn, not fork: pyarrow's and zstd's thread pools do not survive a fork reliably.
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    queued = list(pending)
    with ctx.Pool(workers, initializer=init_worker, initargs=(q, os.getpid(), s.max_pixels)) as pool:
        running: dict[str, mp.pool.AsyncResult] = {}
        while queued or running:
            while queued and len(running) < workers and not prog.limit_reached():
                u = queued.pop(0)
                running[u.key] = pool.apply_async(run_unit, (u, s))
            if not running:
                break
            # Wait briefly for news, then take only what is already queued: a steady stream of progress must not
            # keep the loop from noticing a finished unit and handing its worker the next one.
            try:
                prog.update(*q.get(timeout=0.1))
                while True:
                    prog.update(*q.get_nowait())
            except queue_mod.Empty:
                pass
            for key, res in list(running.items()):
                if res.ready():
                    prog.finish(key, res.get())
                    del running[key]
                    prog.emit(force=True)
            prog.emit()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m medtune_py.data_prepare")
    ap.add_argument("--data-dir", required=True, help="LLaMA-Factory dataset_dir (the workspace's data/)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--source", default="sample")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--val-ratio", type=float, default=0.05)
    ap.add_argument("--modality")
    ap.add_argument("--lang", choices=["en", "zh", "mixed"], default="en")
    ap.add_argument("--workers", type=int, default=0, help="0 = one per CPU core")
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    ap.add_argument("--unit-rows", type=int, default=0,
                    help="rows per resumable unit (demo layout); 0 = up to 1000, fewer so a small set still makes "
                         f"{MIN_UNITS} units for the workers to share")
    ap.add_argument("--templates", default=str(DEFAULT_TEMPLATES))
    ap.add_argument("--cache", help="where the sample set and Hub downloads go (default: DATA_DIR/.sources)")
    ap.add_argument("--force", action="store_true", help="replace an existing dataset of this name")
    ap.add_argument("--min-free-gib", type=float, default=1.0,
                    help="space to leave free on the dataset's disk after converting (the estimate is checked first)")
    a = ap.parse_args(argv)
    started = time.monotonic()

    if not NAME_RE.match(a.name):
        protocol.fail("BAD_NAME", f"dataset name {a.name!r} is not allowed",
                      next="use letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit")
    if a.limit is not None and a.limit < 1:
        protocol.fail("BAD_OPTION", "--limit must be at least 1")
    if not 0 <= a.val_ratio < 1:
        protocol.fail("BAD_OPTION", "--val-ratio must be at least 0 and below 1")
    if a.max_pixels < 1 or a.unit_rows < 0:
        protocol.fail("BAD_OPTION", "--max-pixels must be positive and --unit-rows at least 0")
    try:
        modalities = parse_modalities(a.modality)
    except ValueError as err:
        protocol.fail("BAD_OPTION", str(err))
    templates = Path(a.templates)
    try:
        pools = {lang: load_questions(templates / f"{lang}.txt") for lang in ("en", "zh")}
    except (OSError, ValueError) as err:
        protocol.fail("TEMPLATES", f"question templates unusable: {err}", next=f"check {templates}/en.txt and zh.txt")
    if a.lang != "mixed":
        pools = {a.lang: pools[a.lang]}
    workers = a.workers if a.workers > 0 else _cpu_count()

    data_dir = Path(a.data_dir).resolve()
    ds = data_dir / a.name
    created = not ds.exists()
    ds.mkdir(parents=True, exist_ok=True)
    cache = Path(a.cache) if a.cache else data_dir / ".sources"
    try:
        return _prepare(a, ds, data_dir, cache, pools, modalities, workers, started)
    finally:
        if created and ds.is_dir() and not any(ds.iterdir()):
            ds.rmdir()  # a run that failed before writing anything leaves no empty dataset folder behind


def _prepare(a: argparse.Namespace, ds: Path, data_dir: Path, cache: Path, pools: dict[str, list[str]],
             modalities: frozenset[str] | None, workers: int, started: float) -> int:
    with _Lock(ds / ".prepare.lock"):
        source = resolve(a.source, cache, lambda phase, d, t: protocol.progress(phase, d, t))
        units = plan_units(source, a.unit_rows or _auto_unit_rows(source))
        options = {"limit": a.limit, "val_ratio": a.val_ratio, "modality": sorted(modalities) if modalities else None,
                   "lang": a.lang, "max_pixels": a.max_pixels, "unit_rows": a.unit_rows}
        plan_hash = _plan_hash(source, units, options, pools)
        work = ds / ".work"
        manifest_path = ds / "manifest.json"

        if manifest_path.is_file() and not a.force:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if manifest.get("plan_hash") == plan_hash:
                shutil.rmtree(work, ignore_errors=True)
                protocol.result(**_summary(manifest, ds, reused=True, resumed_units=0, processed_units=0,
                                           units=len(units), seconds=round(time.monotonic() - started, 2)))
                return 0
            protocol.fail("DATASET_EXISTS", f"dataset {a.name} already exists, prepared from other data or options",
                          next="pass --force to replace it, or choose another --name")
        if a.force:
            _wipe(ds)
        elif not work.is_dir() and any(p.name != ".prepare.lock" for p in ds.iterdir()):
            protocol.fail("DATASET_EXISTS", f"{ds} is not empty and was not made by medtune",
                          next="pass --force to replace its contents, or choose another --name")
        plan_file = work / "plan.json"
        if work.is_dir():
            try:
                old = json.loads(plan_file.read_text())["plan_hash"]
            except (OSError, ValueError, KeyError):
                old = None
            if old != plan_hash:
                protocol.log("the source or the options changed since the interrupted run: starting over")
                _wipe(ds)
        # Checked before anything is written: the caption index of 25M_full alone is many GiB.
        unfinished = {u.key for u in units if read_done(str(work), u) is None}
        index_ready = (work / "captions.done.json").is_file() and (work / "captions.sqlite").is_file()
        _check_disk(a, ds, source, units, unfinished, source.layout == "full" and not index_ready)
        (work / "units").mkdir(parents=True, exist_ok=True)
        _write_json(plan_file, {"plan_hash": plan_hash, "source": source.describe(), "options": options,
                                "units": [asdict(u) for u in units]})

        index_stats = None
        index_db = None
        if source.layout == "full":
            index_db = work / "captions.sqlite"
            index_done = work / "captions.done.json"
            if index_done.is_file() and index_db.is_file():
                index_stats = json.loads(index_done.read_text())
            else:
                index_stats = build_caption_index(source.parquet, index_db, modalities,
                                                  lambda n: protocol.progress("indexing captions", n, None, unit="rows"))
                _write_json(index_done, index_stats)

        settings = Settings(name=a.name, ds_dir=str(ds), work_dir=str(work),
                            source_root=source.root, val_ratio=a.val_ratio, lang=a.lang, modalities=modalities,
                            max_pixels=a.max_pixels, cap=a.limit, pools=pools,
                            index_db=str(index_db) if index_db else None)
        done = {u.key: c for u in units if (c := read_done(str(work), u)) is not None}
        pending = [u for u in units if u.key not in done]
        resumed = len(done)
        if resumed:
            protocol.log(f"resuming: {resumed} of {len(units)} shards were finished by an earlier run")
        for u in pending:
            clean_unit(settings, u.key)
        prog = _Progress(units, done, a.limit, source.layout)
        prog.emit(force=True)
        _run_units(pending, prog, settings, min(workers, max(1, len(pending))))

        used = prog.prefix()
        for u in units[len(used):]:
            clean_unit(settings, u.key)  # past the limit: never part of the dataset
        protocol.progress("merging", 0, 1, force=True)
        merged = merge(used, settings, a.limit)

        skipped: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        truncated = []
        for u in used:
            c = prog.done[u.key]
            skipped.update(c["skipped"])
            counts.update({k: c[k] for k in ("rows_read", "neutralised", "unmatched_images")})
            if c.get("truncated"):
                truncated.append(c["truncated"])
        if merged["dropped"].get("duplicate_id"):
            skipped["duplicate_id"] += merged["dropped"]["duplicate_id"]
        limit_reached = a.limit is not None and merged["train"] + merged["val"] >= a.limit
        warnings = [f"archive ended early, rows after the break are missing (re-download it and run again): {t}"
                    for t in truncated]
        if index_stats is not None:
            skipped.update(index_stats["skipped"])
            counts["rows_read"] = index_stats["rows_read"]
            counts["neutralised"] = index_stats["neutralised"]
            if not limit_reached:
                failed = sum(n for u in used for r, n in prog.done[u.key]["skipped"].items() if r != "duplicate_id")
                missing = index_stats["eligible"] - (merged["train"] + merged["val"] + failed)
                if missing > 0:
                    skipped["image_not_accessible"] += missing
        # What --limit cut off is not a data problem, so it is reported apart from the skip reasons.
        trimmed = merged["dropped"].get("trimmed_by_limit", 0)
        kept = merged["train"] + merged["val"]
        if kept == 0:
            detail = [f"{k}: {v}" for k, v in skipped.most_common()]
            _wipe(ds)  # nothing to resume towards: leave no half-made dataset behind
            protocol.fail("NOTHING_KEPT", f"no usable rows in {a.source} ({counts['rows_read']} read)",
                          details=detail or None, next="check the source and the --modality filter")
        manifest = {
            "format": FORMAT,
            "name": a.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "converter": CONVERTER_VERSION,
            "plan_hash": plan_hash,
            "source": {"spec": a.source, "kind": source.kind, "layout": source.layout, "root": source.root,
                       "files": len(source.parquet) + len(source.archives)},
            "options": options,
            "counts": {"rows_read": counts["rows_read"], "kept": kept, "train": merged["train"], "val": merged["val"],
                       "skipped": dict(sorted(skipped.items())), "converted": merged["converted"],
                       "copied": merged["copied"], "neutralised": counts["neutralised"],
                       "unmatched_images": counts["unmatched_images"], "trimmed_by_limit": trimmed,
                       "limit_reached": limit_reached},
            "modalities": merged["modalities"],
            "files": {"train": "train.jsonl", "val": "val.jsonl" if merged["val"] else None, "images": "images/"},
            "content_hash": merged["content_hash"],
            "warnings": warnings,
        }
        _write_json(manifest_path, manifest)
        shutil.rmtree(work, ignore_errors=True)
        protocol.result(**_summary(manifest, ds, reused=False, resumed_units=resumed, processed_units=len(prog.done) - resumed,
                                   units=len(units), workers=workers, seconds=round(time.monotonic() - started, 2)))
    return 0


if __name__ == "__main__":
    protocol.run(main)
