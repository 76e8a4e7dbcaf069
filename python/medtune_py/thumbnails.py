"""Decodes images and scales them down for a terminal preview (the TUI draws them with half-block cells).

    python -m medtune_py.thumbnails --max-side N PATH [PATH ...]

Result: {"images": [{"path", "width", "height", "rgb"} | {"path", "error"}]}, where rgb is base64 of
width*height*3 bytes, row-major. One unreadable image gives an entry with "error", not a failed helper.
"""
from __future__ import annotations

import argparse
import base64
from typing import Any

from . import protocol


def open_any(path: str):
    """A PIL image of an ordinary image file, or of a scan as the model would receive it (middle slice, the
    file's own window)."""
    from PIL import Image

    from . import scans

    if scans.is_scan(path):
        return Image.fromarray(scans.preview(path))
    return Image.open(path)


def thumbnail(path: str, max_side: int) -> dict[str, Any]:
    from PIL import Image

    try:
        with open_any(path) as im:
            im.draft("RGB", (max_side, max_side))  # lets JPEG decode at a reduced scale
            rgb = im.convert("RGB")
            # BOX averages every source pixel into the target pixel: no aliasing on fine scan textures.
            rgb.thumbnail((max_side, max_side), Image.Resampling.BOX)
            return {"path": path, "width": rgb.width, "height": rgb.height, "rgb": base64.b64encode(rgb.tobytes()).decode("ascii")}
    except Exception as err:  # noqa: BLE001 - any decoding problem is reported per image
        return {"path": path, "error": f"{type(err).__name__}: {err}"}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="medtune_py.thumbnails")
    p.add_argument("--max-side", type=int, default=64)
    p.add_argument("paths", nargs="+")
    a = p.parse_args(argv)
    if a.max_side < 1 or a.max_side > 1024:
        protocol.fail("BAD_ARGS", f"--max-side must be 1..1024, not {a.max_side}")
    protocol.result(images=[thumbnail(path, a.max_side) for path in a.paths])


if __name__ == "__main__":
    protocol.run(main)
