"""Guards against hostile input rows and source folders, shared by the converters.

- Text: C0/C1 control characters and Unicode bidirectional controls (RLO/LRO/RLE/LRE/PDF, the isolates
  LRI/RLI/FSI/PDI, and the ALM/LRM/RLM marks) are removed from captions: they can make a caption read differently
  from what the model is trained on ("Trojan Source"), and LLaMA-Factory keeps them verbatim.
- Captions longer than MAX_CAPTION_CHARS are refused (`caption_too_long`): a 10 MB caption is not a caption, and
  it would be cut at cutoff_len anyway after costing tokenisation time and memory.
- Images whose long side is more than MAX_ASPECT times the short one are refused (`extreme_aspect_ratio`):
  Qwen2-VL's image processor raises "absolute aspect ratio must be smaller than 200" on them in the middle of
  LLaMA-Factory's tokenisation, which ends the whole run.
- Source files that are symlinks resolving outside the source folder are left out and reported.
"""
from __future__ import annotations

import re
from pathlib import Path

MAX_CAPTION_CHARS = 20_000
MAX_ASPECT = 200

# C0 controls except \t and \n (\r is normalised before), DEL, C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional formatting characters: embeddings/overrides U+202A-U+202E, isolates U+2066-U+2069, marks
# U+200E/U+200F/U+061C.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def scrub_text(text: str) -> str:
    """Text without control and bidirectional formatting characters (line breaks normalised to \\n)."""
    out = text.replace("\r\n", "\n").replace("\r", "\n")
    out = _CONTROL.sub(" ", out)
    return _BIDI.sub("", out)


def caption_problem(caption: str) -> str | None:
    """A skip reason for a caption too long to be one, else None."""
    return "caption_too_long" if len(caption) > MAX_CAPTION_CHARS else None


def aspect_problem(width: int, height: int) -> str | None:
    """A skip reason for an image Qwen2-VL's processor would reject, else None."""
    if width < 1 or height < 1:
        return None
    return "extreme_aspect_ratio" if max(width, height) / min(width, height) > MAX_ASPECT else None


def escapes(path: Path, root: Path) -> bool:
    """True when `path` (typically a symlink) resolves outside `root`."""
    try:
        path.resolve().relative_to(root.resolve())
        return False
    except ValueError:
        return True
