"""Every bad input of benchmarks/bad_inputs.py (the command line, the library and the
dashboard's views on a workspace) is answered with a clear message, and nothing of the
user's changes (run_all checks their folder byte for byte)."""
import importlib.util
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "bad_inputs.py"


def run_all(root):
    spec = importlib.util.spec_from_file_location("bad_inputs", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_all(root)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_bad_inputs_are_answered_and_nothing_is_lost(tmp_path):
    rows = run_all(tmp_path)
    assert len(rows) >= 40 and len({what for _, what, _ in rows}) == len(rows)
    unhandled = [(what, msg) for _, what, msg in rows if msg.startswith("UNHANDLED") or not msg]
    assert unhandled == []
    assert all("Traceback" not in msg and "\n" not in msg for _, _, msg in rows)
