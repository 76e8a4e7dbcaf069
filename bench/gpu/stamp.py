"""Stamps each line of a trainer_log.jsonl with the wall time it appears (polled every 0.1 s) until killed.

    python3 bench/gpu/stamp.py RUN/output/trainer_log.jsonl OUT.jsonl   # lines {"t": epoch, "record": {...}}
"""
import json
import sys
import time
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
seen = 0
with dst.open("a") as out:
    while True:
        if src.is_file():
            lines = src.read_text().splitlines()
            for line in lines[seen:]:
                try:
                    rec = json.loads(line)
                except ValueError:
                    break  # half-written: read it again next time
                out.write(json.dumps({"t": round(time.time(), 2), "record": rec}) + "\n")
                out.flush()
                seen += 1
        time.sleep(0.1)
