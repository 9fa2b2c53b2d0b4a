"""The published schema is the contract: schemathesis drives every operation of the live schema
(examples, coverage and fuzzing phases, every check, response conformance included) with an
owner's token on a small seeded store, and the test fails on any server error or mismatch.

Bounded: ``SCHEMATHESIS_MAX_EXAMPLES`` cases per operation and phase (default 20) with a fixed
seed (``SCHEMATHESIS_SEED``), so CI is repeatable and takes about a minute and a half. The run's
summary (operations, checks, failures) is printed, and attached to a failure.
"""

import os
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")


def run_schemathesis(base_url: str, token: str, slug: str, workdir: Path) -> tuple[int, str]:
    env = {
        **os.environ,
        "SUBEXP_STORE_SLUG": slug,
        "NO_COLOR": "1",
        "COLUMNS": "120",
        "PYTHONIOENCODING": "utf-8",
    }
    command = [
        str(ST),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/api/schema/?format=json",
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"),
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "1"),
        "--workers",
        "2",
        "--no-shrink",
        "--request-timeout",
        "30",
    ]
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )
    return result.returncode, result.stdout + result.stderr


def summary_of(output: str) -> str:
    """The SUMMARY block of schemathesis's output (operations, phases, failures, test cases)."""
    start = output.find("SUMMARY")
    return output[output.rfind("\n", 0, start) :] if start >= 0 else output[-3000:]


def test_every_operation_of_the_live_schema_holds_under_schemathesis(
    live_server, seeded_store, tmp_path
):
    # given the live server, its published schema and an owner's token on a seeded store
    store, token = seeded_store
    # when schemathesis runs every phase and every check against every operation
    code, output = run_schemathesis(live_server.url, token, store.slug, tmp_path)
    summary = summary_of(output)
    print(summary)
    # then it found no server error, no schema mismatch and no other failed check
    assert "Selected: " in output and "Tested: " in output, output[-3000:]
    assert code == 0, output[-20000:]
