"""Golden digests: `cjmsim run scenarios/hifi.toml` writes byte-identical tables across refactors.

The digests were recorded on main before the layering refactor (issue 10) started, from
`cjmsim run scenarios/hifi.toml` with its defaults (200,000 agents, seed 2026, every plan). A change
that moves code must not move a single byte of these files; a change that means to alter results
must re-record them and say why in its commit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cjmsim.cli import main

HIFI = Path(__file__).resolve().parents[1] / "scenarios" / "hifi.toml"

GOLDEN = {
    "summary.csv": "677b9782e6ae6c24558e5209f155e52388aed50f90828ffcde2f8bf6ddfc19cb",
    "weekly.csv": "bc54ce0b9815aa3bb35f398d42b0b06a02765f8cc05bcc7be81c6b6b7ed6b441",
}


@pytest.mark.slow
def test_hifi_run_tables_are_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "hifi"
    res = CliRunner().invoke(main, ["run", str(HIFI), "--out", str(out), "--no-report", "--quiet"])
    assert res.exit_code == 0, res.output
    digests = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in GOLDEN}
    assert digests == GOLDEN
