"""Downloads a model snapshot from Hugging Face or ModelScope into a models/ folder, failing fast when offline.

    python -m medtune_py.fetch_model --repo-id ID --hub hf|modelscope --out DIR [--revision REV] [--probe-timeout S]

A short probe of the hub's API runs before anything is written, so an offline machine, a blocked hub or a
gated repository is reported within seconds. The download then goes to a hidden `.<name>.partial` folder next
to DIR (kept on failure so that the next attempt resumes) and is renamed to DIR only once every required file
is there. Progress is reported in bytes.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import protocol
from .verify_export import REQUIRED, present

# What a transformers model needs; skips duplicate weight formats (.bin, .pt, ONNX, GGUF) that snapshots may carry.
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.tiktoken", "LICENSE", "README.md"]
HUB_NAMES = {"hf": "Hugging Face", "modelscope": "ModelScope"}


def truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hf_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def modelscope_endpoint() -> str:
    domain = os.environ.get("MODELSCOPE_DOMAIN") or "www.modelscope.cn"
    return (domain if "://" in domain else f"https://{domain}").rstrip("/")


def hf_token() -> str | None:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    path = os.environ.get("HF_TOKEN_PATH") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "token")
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def unreachable_next(out: Path, hub: str) -> str:
    other = "modelscope" if hub == "hf" else "hf"
    return (f"on a machine with access, download the model and copy its folder to {out} (medtune then finds it), "
            f"or pass --model PATH to train/export; behind a proxy set HTTPS_PROXY"
            + (", for a mirror HF_ENDPOINT" if hub == "hf" else "")
            + f"; or try --hub {other}")


def from_hub(err: urllib.error.HTTPError) -> bool:
    """Whether an HTTP error came from the hub itself (it answers with JSON), not from a proxy in the way."""
    if err.headers.get("X-Error-Code") or err.headers.get("X-Error-Message"):
        return True
    try:
        return isinstance(json.loads(err.read().decode("utf-8")), dict)
    except (ValueError, OSError):
        return False


def probe(hub: str, repo_id: str, revision: str, timeout: float, out: Path) -> dict[str, Any]:
    """One small API request; fails with a clear error instead of letting a download hang."""
    if hub == "hf" and truthy(os.environ.get("HF_HUB_OFFLINE")):
        protocol.fail("HUB_OFFLINE", "HF_HUB_OFFLINE is set, so Hugging Face cannot be reached",
                      "unset HF_HUB_OFFLINE to download; " + unreachable_next(out, hub))
    if hub == "hf":
        url = f"{hf_endpoint()}/api/models/{repo_id}/revision/{revision}?blobs=true"
        token = hf_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
    else:
        url = f"{modelscope_endpoint()}/api/v1/models/{repo_id}/repo/files?Revision={revision}&Recursive=true"
        token, headers = None, {}
    host = url.split("/")[2]
    started = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            body = json.loads(resp.read().decode("utf-8") or "{}")
    except urllib.error.HTTPError as err:
        if not from_hub(err):
            protocol.fail("HUB_UNREACHABLE", f"{host} answered HTTP {err.code} without the hub's JSON: a proxy, firewall or "
                          f"captive portal stands between this machine and {HUB_NAMES[hub]}", unreachable_next(out, hub))
        if err.code in (401, 403):
            protocol.fail("HUB_GATED", f"{HUB_NAMES[hub]} refused access to {repo_id} (HTTP {err.code}): the repository "
                          "is gated or private" + ("" if token else " and no token is set"),
                          "accept the model's conditions on its hub page, then set HF_TOKEN to a token of that account"
                          if hub == "hf" else "log in to ModelScope (MODELSCOPE_API_TOKEN) or use --hub hf")
        if err.code == 404:
            protocol.fail("MODEL_NOT_FOUND", f"{HUB_NAMES[hub]} has no model {repo_id} at revision {revision} (HTTP 404)",
                          "check the name with `medtune model list`; a private repository also answers 404 without a token")
        protocol.fail("HUB_ERROR", f"{HUB_NAMES[hub]} answered HTTP {err.code} for {repo_id}", "try again later")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, socket.gaierror):
            why = f"cannot resolve {host}"
        elif isinstance(reason, (socket.timeout, TimeoutError)):
            why = f"no answer from {host} within {timeout:g} s"
        elif isinstance(reason, ConnectionRefusedError):
            why = f"{host} refused the connection"
        else:
            why = f"{host}: {reason}"
        protocol.fail("HUB_UNREACHABLE", f"{HUB_NAMES[hub]} is unreachable ({why}, after "
                      f"{time.monotonic() - started:.1f} s); this machine looks offline or the hub is blocked",
                      unreachable_next(out, hub))
    except ValueError as err:
        protocol.fail("HUB_ERROR", f"{HUB_NAMES[hub]} sent an unreadable answer for {repo_id}: {err}", "try again later")
    if hub == "hf" and body.get("gated") and not token:
        protocol.fail("HUB_GATED", f"{repo_id} is gated on Hugging Face ({body.get('gated')} approval) and no token is set",
                      "accept the model's conditions on its hub page, then set HF_TOKEN to a token of that account")
    return body


def expected_bytes(hub: str, info: dict[str, Any]) -> int | None:
    """Total size of the files the download will fetch, from the probe's answer (None if the hub did not say)."""
    import fnmatch

    if hub == "hf":
        files = [(s.get("rfilename", ""), s.get("size")) for s in info.get("siblings", [])]
    else:
        files = [(f.get("Path", ""), f.get("Size")) for f in (info.get("Data") or {}).get("Files", [])
                 if f.get("Type") != "tree"]
    sizes = [size for name, size in files if any(fnmatch.fnmatch(name, p) for p in ALLOW_PATTERNS)]
    if not sizes or any(not isinstance(s, int) for s in sizes):
        return None
    return sum(sizes)


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


class ByteProgress(threading.Thread):
    """Reports the partial folder's growth; independent of each hub library's progress-bar internals."""

    def __init__(self, path: Path, total: int | None):
        super().__init__(daemon=True)
        self.path, self.total = path, total
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            protocol.progress("download", folder_bytes(self.path), self.total, unit="B", force=True)


def download(hub: str, repo_id: str, revision: str, partial: Path, out: Path) -> None:
    if hub == "hf":
        try:
            from huggingface_hub import snapshot_download
            from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
        except ImportError:
            protocol.fail("HUB_LIBRARY_MISSING", "huggingface_hub is not installed in the venv",
                          "run `medtune setup` to rebuild the Python environment")
        try:
            snapshot_download(repo_id, revision=revision, local_dir=partial, allow_patterns=ALLOW_PATTERNS,
                              etag_timeout=float(os.environ.get("HF_HUB_ETAG_TIMEOUT", "10")))
        except GatedRepoError:
            protocol.fail("HUB_GATED", f"{repo_id} is gated on Hugging Face and this account has no access",
                          "accept the model's conditions on its hub page, then set HF_TOKEN to a token of that account")
        except RepositoryNotFoundError:
            protocol.fail("MODEL_NOT_FOUND", f"Hugging Face has no model {repo_id} (or it is private)",
                          "check the repository id, or set HF_TOKEN for a private repository")
        return
    try:
        from modelscope import snapshot_download as ms_snapshot_download
    except ImportError:
        protocol.fail("HUB_LIBRARY_MISSING", "the modelscope package is not installed in medtune's venv",
                      f"install it there (`{sys.executable} -m pip install modelscope`) or use --hub hf")
    ms_snapshot_download(repo_id, revision=revision, local_dir=str(partial), allow_patterns=ALLOW_PATTERNS)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="medtune_py.fetch_model", description=__doc__.split("\n")[0])
    p.add_argument("--repo-id", required=True)
    p.add_argument("--hub", choices=sorted(HUB_NAMES), default="hf")
    p.add_argument("--out", required=True, help="the model folder to create")
    p.add_argument("--revision", default=None, help="branch, tag or commit (default: main on HF, master on ModelScope)")
    p.add_argument("--probe-timeout", type=float, default=5.0, help="seconds the first API request may take")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    revision = args.revision or ("main" if args.hub == "hf" else "master")
    if out.exists():
        protocol.fail("MODEL_DIR_EXISTS", f"{out} already exists", "use it as it is, or remove it and fetch again")
    protocol.progress("probe", message=f"asking {HUB_NAMES[args.hub]} for {args.repo_id}", force=True)
    info = probe(args.hub, args.repo_id, revision, args.probe_timeout, out)
    total = expected_bytes(args.hub, info)
    partial = out.with_name(f".{out.name}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    reporter = ByteProgress(partial, total)
    reporter.start()
    started = time.monotonic()
    try:
        download(args.hub, args.repo_id, revision, partial, out)
    except OSError as err:
        if err.errno == 28:
            protocol.fail("DISK_FULL", f"the disk filled up while downloading {args.repo_id}",
                          f"free space (the model needs {total or 'several GB of'} bytes); finished files stay in {partial}")
        raise
    except Exception as err:  # noqa: BLE001 - network failures come as many library-specific types
        if isinstance(err, protocol.HelperError):
            raise
        protocol.fail("DOWNLOAD_FAILED", f"downloading {args.repo_id} from {HUB_NAMES[args.hub]} failed: "
                      f"{type(err).__name__}: {err}",
                      f"run the same command again: finished files are kept in {partial} and the download resumes")
    finally:
        reporter.stop.set()
        reporter.join()
    shutil.rmtree(partial / ".cache", ignore_errors=True)
    lacking = [part for part in REQUIRED if part != "chat_template" and not present(partial, part)]
    if lacking:
        protocol.fail("DOWNLOAD_INCOMPLETE", f"the snapshot of {args.repo_id} lacks {', '.join(lacking)}",
                      f"check the repository on the hub; the files fetched so far are in {partial}")
    partial.rename(out)
    size = folder_bytes(out)
    protocol.progress("download", size, size, unit="B", force=True)
    protocol.result(dir=str(out), repo_id=args.repo_id, hub=args.hub, revision=revision, bytes=size,
                    files=sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()),
                    seconds=round(time.monotonic() - started, 1))
    return 0


if __name__ == "__main__":
    protocol.run(main)
