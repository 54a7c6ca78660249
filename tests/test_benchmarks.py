"""Benchmark scripts stay runnable: CI runs each with --quick; here, what would break them all at once."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))


def test_no_benchmark_script_is_named_like_a_standard_library_module():
    # A script's folder comes first on sys.path when it runs: benchmarks/queue.py once shadowed `queue`
    # and every script that imported psycopg (through it, the standard `queue`) failed.
    assert SCRIPTS
    assert sorted(p.stem for p in SCRIPTS if p.stem in sys.stdlib_module_names) == []


def test_ci_runs_every_benchmark_in_quick_mode_after_the_tests():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("make test") < ci.index("for script in benchmarks/*.py")
    assert '"$script" --quick' in ci
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert "--quick" in text and ("RESULT" in text or "result(" in text), script.name
