"""Captures a TUI screen without tmux: runs CMD in a pseudo-terminal of COLSxROWS, sends KEYS (one at a time, after
WAIT seconds, then SETTLE seconds more), and prints the last frame Ink drew, escape sequences removed.

    python3 bench/gpu/tui_capture.py --cols 110 --rows 34 --wait 8 --settle 6 --keys 4 -- node medtune.js -w WS
"""
import argparse
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time

ap = argparse.ArgumentParser()
ap.add_argument("--cols", type=int, default=110)
ap.add_argument("--rows", type=int, default=34)
ap.add_argument("--wait", type=float, default=8)
ap.add_argument("--settle", type=float, default=6)
ap.add_argument("--keys", default="")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

pid, fd = pty.fork()
if pid == 0:
    os.environ.update(TERM="xterm-256color", COLUMNS=str(a.cols), LINES=str(a.rows))
    os.execvp(cmd[0], cmd)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", a.rows, a.cols, 0, 0))
buf = bytearray()


def pump(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                buf.extend(os.read(fd, 65536))
            except OSError:
                return


pump(a.wait)
for key in a.keys:
    os.write(fd, key.encode())
    pump(1.0)
mark = len(buf)
pump(a.settle)
os.write(fd, b"q")
pump(1.0)
with contextlib.suppress(ProcessLookupError):
    os.kill(pid, signal.SIGTERM)
text = buf[:].decode("utf-8", "replace")
# Ink redraws a frame by erasing the previous one (ESC[2K ESC[1A ...) or clearing the screen; keep the last whole one.
frames = re.split(r"(?:\x1b\[2K\x1b\[1A)+\x1b\[2K\x1b\[G|\x1b\[2J\x1b\[3J\x1b\[H|\x1b\[H\x1b\[2J", text)
last = next((f for f in reversed(frames) if f.strip()), text)
clean = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\r", "", last)
print(clean.rstrip())
