"""The NDJSON protocol: one JSON object per stdout line, everything else on stderr, one error event on failure."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]


def helper(body: str) -> subprocess.CompletedProcess[str]:
    """Runs a helper whose main is `body`, as medtune runs them (a child process reading stdout)."""
    script = (
        "from medtune_py import protocol\n"
        "def main(argv):\n" + "".join(f"    {line}\n" for line in body.splitlines()) + "protocol.run(main)\n"
    )
    return subprocess.run([sys.executable, "-c", script], cwd=PYTHON_DIR, capture_output=True, text=True, timeout=60)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_a_helper_prints_only_protocol_lines_on_stdout():
    r = helper('print("a library talking")\nprotocol.log("hello")\nprotocol.result(n=3, text="中文")\nreturn 0')
    assert r.returncode == 0
    assert events(r.stdout) == [
        {"event": "log", "level": "info", "message": "hello"},
        {"event": "result", "n": 3, "text": "中文"},
    ]
    assert "a library talking" in r.stderr


def test_an_expected_failure_is_one_error_event_with_code_message_and_next_step():
    r = helper('protocol.fail("BAD_OPTION", "--rows must be positive", "pass --rows 100", ["got -1"])')
    assert r.returncode == 2
    assert events(r.stdout) == [
        {"event": "error", "code": "BAD_OPTION", "message": "--rows must be positive", "next": "pass --rows 100",
         "details": ["got -1"]},
    ]


def test_an_unexpected_exception_is_an_internal_error_event_not_a_bare_traceback():
    r = helper('raise KeyError("boom")')
    assert r.returncode == 1
    [event] = events(r.stdout)
    assert event["event"] == "error"
    assert event["code"] == "INTERNAL"
    assert event["message"] == "KeyError: 'boom'"
    assert event["details"]
    assert "Traceback" in r.stderr


def test_the_exit_code_of_main_is_the_helpers():
    assert helper("return 3").returncode == 3


@pytest.fixture
def captured(monkeypatch):
    from medtune_py import protocol

    lines: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(protocol, "_stdout", Sink())
    monkeypatch.setattr(protocol, "_last_progress", float("-inf"))
    return lines


def test_progress_is_throttled_but_the_last_step_and_forced_reports_always_go_out(captured):
    from medtune_py import protocol

    for done in range(1, 101):
        protocol.progress("convert", done, 100, unit="rows", every=3600)
    protocol.progress("convert", 5, 100, force=True, every=3600)
    sent = [json.loads(line) for line in captured]
    assert [e["done"] for e in sent] == [1, 100, 5]
    assert sent[0] == {"event": "progress", "phase": "convert", "done": 1, "total": 100, "unit": "rows"}


def test_progress_without_counts_is_a_phase_with_a_message(captured):
    from medtune_py import protocol

    protocol.progress("download", message="waiting for the Hub")
    assert [json.loads(line) for line in captured] == [{"event": "progress", "phase": "download", "message": "waiting for the Hub"}]
