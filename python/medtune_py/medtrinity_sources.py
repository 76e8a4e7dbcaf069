"""Where MedTrinity rows come from: the bundled sample set, the Hub, or local parquet (+ tar.zst) files.

A source resolves to local files and a layout: `demo` (parquet rows carrying image bytes, like 25M_demo) or `full`
(captions-only parquet joined by file name with images streamed out of 25M_accessible/*.tar.zst archives).
It is then cut into units of work (row-group ranges or archives), each small enough to redo after a kill.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import socket
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from . import protocol
from .hostile_guard import escapes

HUB_REPO = "UCSC-VLAA/MedTrinity-25M"
HUB_PAGE = f"https://huggingface.co/datasets/{HUB_REPO}"
HUB_CONFIGS = ("25M_demo", "25M_full")
SAMPLE_VERSION = 1
MAX_MEMBER_BYTES = 256 * 1024 * 1024


@dataclass
class Source:
    spec: str
    kind: str  # sample | hub | local
    layout: str  # demo | full
    root: str
    parquet: list[str]
    archives: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return asdict(self)


@dataclass
class Unit:
    key: str
    kind: str  # parquet | archive
    path: str
    row_groups: list[int]
    rows: int
    fingerprint: str


def file_fingerprint(path: Path) -> str:
    """Size plus a hash of the first and last 64 KiB: stable across copies and touches, cheap on huge files,
    and it covers the parquet footer (row counts, statistics)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(65536))
        if size > 65536:
            f.seek(max(65536, size - 65536))
            h.update(f.read())
    return f"{size}:{h.hexdigest()[:20]}"


# ---------------------------------------------------------------------------------------------------------
# Resolution

def resolve(spec: str, cache_dir: Path, on_progress: Callable[[str, int, int], None]) -> Source:
    s = spec.strip()
    low = s.lower()
    if low in ("sample", "sample-set", "builtin"):
        root = ensure_sample(cache_dir / f"sample-v{SAMPLE_VERSION}", on_progress)
        return _local(str(root), "sample", spec)
    if low in ("hub", "25m_demo", "25m_full") or low.startswith(("hub:", "hf:", HUB_REPO.lower())):
        config = s.split(":", 1)[1] if ":" in s else (s if low.startswith("25m_") else "25M_demo")
        config = {"25m_demo": "25M_demo", "25m_full": "25M_full"}.get(config.lower(), config)
        if config not in HUB_CONFIGS:
            protocol.fail("BAD_SOURCE", f"unknown MedTrinity-25M config {config!r}",
                          next="use hub:25M_demo or hub:25M_full")
        root = fetch_hub(config, cache_dir / "hub", on_progress)
        return _local(str(root), "hub", spec)
    return _local(s, "local", spec)


def ensure_sample(dest: Path, on_progress: Callable[[str, int, int], None]) -> Path:
    """The bundled sample set, generated once per workspace (deterministic, so regenerating changes nothing)."""
    from .sample_set import write_sample_set

    if (dest / ".complete").is_file():
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    summary = write_sample_set(tmp, on_progress=lambda d, t: on_progress("generating sample set", d, t))
    (tmp / ".complete").write_text(json.dumps(summary, indent=2))
    try:
        os.replace(tmp, dest)
    except OSError:
        # Another prepare finished generating the same (deterministic) set first; use that one.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (dest / ".complete").is_file():
            raise
    return dest


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).names
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a non-parquet file
        protocol.fail("BAD_SOURCE", f"{path} is not a readable parquet file ({type(err).__name__}: {err})",
                      next="point --source at MedTrinity-25M parquet files (or a folder of them)")


def _local(path: str, kind: str, spec: str) -> Source:
    p = Path(path).expanduser()
    if not p.exists():
        protocol.fail("SOURCE_NOT_FOUND", f"{path} does not exist",
                      next="pass a parquet file or a folder of them, `sample` for the bundled sample set, "
                           "or hub:25M_demo / hub:25M_full")
    if p.is_file():
        if p.suffix != ".parquet":
            protocol.fail("BAD_SOURCE", f"{path} is not a .parquet file")
        files = [p]
        root = p.parent
    else:
        found = sorted(f for f in p.rglob("*.parquet") if f.is_file() and not _hidden(f, p))
        root = p
        # A symlink that leads out of the source folder is not part of it: leave it out, and say so.
        outside = [f for f in found if f.is_symlink() and escapes(f, p)]
        for f in outside:
            protocol.log(f"left out {f}: a symlink to {f.resolve()}, outside the source folder {p}", level="warning")
        files = [f for f in found if f not in outside]
        if not files:
            protocol.fail("BAD_SOURCE", f"no .parquet files under {path}",
                          next="MedTrinity-25M's 25M_demo folder holds train-0000K-of-00010.parquet files")
    layouts = {}
    for f in files:
        cols = _parquet_columns(f)
        if "image" in cols and "caption" in cols:
            layouts[str(f)] = "demo"
        elif "file_name" in cols and "caption" in cols:
            layouts[str(f)] = "full"
        else:
            protocol.fail("BAD_SCHEMA", f"{f} has columns {cols}; expected image+id+caption (25M_demo) "
                                        "or file_name+caption+source (25M_full)")
    kinds = set(layouts.values())
    if len(kinds) > 1:
        protocol.fail("BAD_SOURCE", f"{path} mixes 25M_demo-style and 25M_full-style parquet files",
                      next="point --source at one of the two folders")
    layout = kinds.pop()
    archives: list[str] = []
    if layout == "full":
        archives = sorted(str(a) for a in root.rglob("*.tar.zst") if a.is_file() and not _hidden(a, root))
        if not archives:
            protocol.fail("NO_ARCHIVES", f"{path} holds 25M_full captions but no 25M_accessible/*.tar.zst archives",
                          next="put the 25M_full/ and 25M_accessible/ folders side by side and pass their parent")
    return Source(spec, kind, layout, str(root.resolve()), [str(f.resolve()) for f in files],
                  [str(Path(a).resolve()) for a in archives])


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


# ---------------------------------------------------------------------------------------------------------
# The Hub (gated): fail fast and say what is missing.

def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on")


def _probe(endpoint: str, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the endpoint opens within `timeout`, else why not."""
    u = urlparse(endpoint)
    host = u.hostname or ""
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return None
    except OSError as err:
        return f"{host}:{port}: {err.strerror or err}"


def fetch_hub(config: str, dest: Path, on_progress: Callable[[str, int, int], None]) -> Path:
    manual = (f"or download the {config} files by hand from {HUB_PAGE} and pass their folder with --source")
    if _truthy(os.environ.get("HF_HUB_OFFLINE")):
        protocol.fail("HUB_OFFLINE", "HF_HUB_OFFLINE is set, so the Hub cannot be reached",
                      next=f"unset HF_HUB_OFFLINE, {manual}")
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    proxied = any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    if not proxied:
        why = _probe(endpoint)
        if why:
            protocol.fail("HUB_UNREACHABLE", f"the Hugging Face Hub ({endpoint}) cannot be reached: {why}",
                          next=f"check the network, proxy or HF_ENDPOINT; {manual}")
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    no_access = (f"MedTrinity-25M is gated: accept its conditions at {HUB_PAGE} while logged in, create a read "
                 f"token at https://huggingface.co/settings/tokens and export HF_TOKEN=hf_…; {manual}")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        files = api.list_repo_files(HUB_REPO, repo_type="dataset")
    except (GatedRepoError, RepositoryNotFoundError) as err:
        problem = ("HF_TOKEN is not set, and the dataset is gated" if not token else
                   "the account behind HF_TOKEN has no access to the dataset (conditions not accepted yet?)")
        protocol.fail("HUB_GATED", problem, next=no_access, details=[str(err).splitlines()[0]])
    except (HfHubHTTPError, OSError) as err:
        protocol.fail("HUB_UNREACHABLE", f"listing {HUB_REPO} failed: {str(err).splitlines()[0]}",
                      next=f"check the network, proxy or HF_ENDPOINT; {manual}")
    except Exception as err:  # noqa: BLE001 - httpx transport errors do not share a base with the above
        protocol.fail("HUB_UNREACHABLE", f"listing {HUB_REPO} failed: {type(err).__name__}: {err}",
                      next=f"check the network, proxy or HF_ENDPOINT; {manual}")
    if config == "25M_demo":
        wanted = [f for f in files if f.startswith("25M_demo/") and f.endswith(".parquet")]
    else:
        wanted = [f for f in files if (f.startswith("25M_full/") and f.endswith(".parquet"))
                  or (f.startswith("25M_accessible/") and f.endswith(".tar.zst"))]
    if not wanted:
        tops = sorted({f.split("/", 1)[0] for f in files})
        protocol.fail("HUB_LAYOUT", f"no {config} files found in {HUB_REPO} (top-level entries: {', '.join(tops[:20])})",
                      next=manual)
    for i, f in enumerate(sorted(wanted)):
        on_progress(f"downloading {config}", i, len(wanted))
        try:
            hf_hub_download(HUB_REPO, f, repo_type="dataset", local_dir=dest, token=token, endpoint=endpoint)
        except GatedRepoError as err:
            protocol.fail("HUB_GATED", "access to the dataset files was refused", next=no_access,
                          details=[str(err).splitlines()[0]])
        except Exception as err:  # noqa: BLE001 - network errors of every kind end the same way
            protocol.fail("HUB_DOWNLOAD", f"downloading {f} failed: {type(err).__name__}: {str(err).splitlines()[0]}",
                          next="run the same command again: finished files are kept and the download resumes")
    on_progress(f"downloading {config}", len(wanted), len(wanted))
    return dest / "25M_demo" if config == "25M_demo" else dest


# ---------------------------------------------------------------------------------------------------------
# Units of work

def plan_units(source: Source, unit_rows: int) -> list[Unit]:
    """Row-group ranges of about `unit_rows` rows (demo) or one unit per archive (full)."""
    import pyarrow.parquet as pq

    units: list[Unit] = []
    if source.layout == "full":
        for i, a in enumerate(source.archives):
            units.append(Unit(f"a{i:04d}", "archive", a, [], 0, file_fingerprint(Path(a))))
        return units
    for fi, f in enumerate(source.parquet):
        meta = pq.ParquetFile(f).metadata
        fp = file_fingerprint(Path(f))
        group: list[int] = []
        rows = 0
        for rg in range(meta.num_row_groups):
            group.append(rg)
            rows += meta.row_group(rg).num_rows
            if rows >= unit_rows:
                units.append(Unit(f"p{fi:04d}g{group[0]:05d}", "parquet", f, group, rows, fp))
                group, rows = [], 0
        if group:
            units.append(Unit(f"p{fi:04d}g{group[0]:05d}", "parquet", f, group, rows, fp))
    return units


# ---------------------------------------------------------------------------------------------------------
# Readers: bounded memory (one record batch or one archive member at a time)

def iter_demo_rows(unit: Unit, source_root: str, batch_rows: int = 64) -> Iterator[tuple[str | None, object, bytes | None]]:
    """(id, caption, image bytes) per row of a 25M_demo-style unit, in file order."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(unit.path)
    names = pf.schema_arrow.names
    cols = [c for c in ("image", "id", "caption") if c in names]
    base = 0
    stem = Path(unit.path).stem
    for batch in pf.iter_batches(batch_size=batch_rows, row_groups=unit.row_groups, columns=cols):
        images = batch.column("image").to_pylist()
        captions = batch.column("caption").to_pylist()
        ids = batch.column("id").to_pylist() if "id" in cols else [None] * len(images)
        for k, (img, rid, cap) in enumerate(zip(images, ids, captions, strict=True)):
            if "id" not in cols:
                # No id column: a stable id from the file and row position keeps names unique and splits stable.
                rid = f"{stem}-rg{unit.row_groups[0]}-{base + k}"
            yield (None if rid is None else str(rid)), cap, _image_bytes(img, source_root)
        base += len(images)


def _image_bytes(value: object, source_root: str) -> bytes | None:
    """Bytes from an `Image` struct, a bare binary column, or (bytes missing) a path inside the source folder."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, dict):
        return None
    data = value.get("bytes")
    if data:
        return bytes(data)
    path = value.get("path")
    if not isinstance(path, str) or not path:
        return None
    root = Path(source_root).resolve()
    candidate = (root / path).resolve()
    # Only files inside the source folder: a parquet must not pull arbitrary files of this machine into a dataset.
    if not candidate.is_relative_to(root) or not candidate.is_file() or candidate.stat().st_size > MAX_MEMBER_BYTES:
        return None
    return candidate.read_bytes()


class ArchiveTruncated(Exception):
    """The archive ended early or is corrupt (a common result of interrupted downloads)."""


def iter_archive(path: str) -> Iterator[tuple[str, bytes | None]]:
    """(basename, bytes) for each regular file in a .tar.zst, streamed; bytes None when the member is too big."""
    import zstandard

    try:
        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as zr, \
                tarfile.open(fileobj=zr, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = posixpath.basename(member.name.replace("\\", "/"))
                if member.size > MAX_MEMBER_BYTES:
                    yield name, None
                    continue
                fh = tar.extractfile(member)
                yield name, fh.read() if fh else None
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as err:
        raise ArchiveTruncated(f"{Path(path).name}: {type(err).__name__}: {err}") from err


def iter_full_captions(parquet: list[str], batch_rows: int = 4096) -> Iterator[tuple[object, object, object]]:
    """(file_name, caption, source) for every row of the 25M_full caption files."""
    import pyarrow.parquet as pq

    for f in parquet:
        pf = pq.ParquetFile(f)
        cols = [c for c in ("file_name", "caption", "source") if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
            names = batch.column("file_name").to_pylist()
            caps = batch.column("caption").to_pylist()
            srcs = batch.column("source").to_pylist() if "source" in cols else [None] * len(names)
            yield from zip(names, caps, srcs, strict=True)


# ---------------------------------------------------------------------------------------------------------
# Disk needed

# A kept row's line, twice (the unit's rows file, then train.jsonl / val.jsonl): the question, the JSON around the
# caption and the image path, beyond the caption itself.
ROW_OVERHEAD_BYTES = 400
# The caption index of the full layout (sqlite, WITHOUT ROWID) holds name, caption and modality once, with its b-tree.
INDEX_FACTOR = 1.5
MARGIN = 1.1


def estimate_disk(source: Source, units: list[Unit], pending: set[str]) -> dict:
    """Bytes the pending units will write, from the sources' own sizes, before anything is read.

    demo: the image column's stored bytes (JPEG/PNG bytes are kept as they are, so the output images take what the
    parquet holds) plus the caption column's uncompressed size for the rows, twice. full: each pending archive's
    size (zstd barely shrinks JPEG), plus the caption index and the rows, from the caption files' uncompressed
    caption column. A 10% margin covers file-system overhead.
    """
    import pyarrow.parquet as pq

    images = rows = index = 0
    if source.layout == "demo":
        by_file: dict[str, set[int]] = {}
        for u in units:
            if u.key in pending:
                by_file.setdefault(u.path, set()).update(u.row_groups)
        for path, groups in by_file.items():
            meta = pq.ParquetFile(path).metadata
            names = [meta.schema.column(i).path for i in range(meta.num_columns)]
            for g in groups:
                rg = meta.row_group(g)
                for c in range(rg.num_columns):
                    col = rg.column(c)
                    name = names[c]
                    if name.startswith("image"):
                        images += col.total_uncompressed_size
                    elif name == "caption":
                        rows += 2 * col.total_uncompressed_size
                rows += 2 * ROW_OVERHEAD_BYTES * rg.num_rows
    else:
        total_archives = sum(os.path.getsize(u.path) for u in units) or 1
        pending_archives = sum(os.path.getsize(u.path) for u in units if u.key in pending)
        images = pending_archives
        captions = n = 0
        for f in source.parquet:
            meta = pq.ParquetFile(f).metadata
            n += meta.num_rows
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                for c in range(rg.num_columns):
                    if rg.column(c).path_in_schema == "caption":
                        captions += rg.column(c).total_uncompressed_size
        index = int(INDEX_FACTOR * captions)
        # Rows are written for the images that arrive, in proportion to the archives still to do.
        share = pending_archives / total_archives
        rows = int(share * 2 * (captions + ROW_OVERHEAD_BYTES * n))
    total = int(MARGIN * (images + rows + index))
    return {"bytes": total, "images": images, "rows": rows, "index": index}
