"""The benchmark runs end to end on a tiny workload (figures are not asserted: never timed)."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import run

TINY = ["--orders", "400", "--resting", "2000", "--small-book", "100", "--expire", "300",
        "--seconds", "1", "--reps", "1", "--no-docs"]  # fmt: skip


def test_a_tiny_run_writes_every_figure_and_the_docs_table(tmp_path, capsys):
    out = tmp_path / "latest.json"
    assert run.main([*TINY, "--phases", "core,memory,expiry", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    figures = [row["figure"] for row in result["rows"]]
    assert any("pipelined 128 deep" in f for f in figures)
    assert any("memory per resting order" in f for f in figures)
    assert any("Expiry" in f for f in figures)
    assert result["figures"]["expiry"]["orders"] == 300
    assert result["machine"]["nproc"] >= 1
    assert "Trade Engine benchmark" in capsys.readouterr().out

    docs = tmp_path / "performance.md"
    docs.write_text(f"# Performance\n\n{run.BEGIN}\nold table\n{run.END}\n\nmore text\n")
    assert run.update_docs(result, docs)
    text = docs.read_text()
    assert "old table" not in text and "more text" in text
    assert "| figure | target | measured |" in text and result["command"] in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_a_tiny_http_run(tmp_path):
    out = tmp_path / "latest.json"
    assert run.main([*TINY, "--phases", "http", "--json", str(out)]) == 0
    http = json.loads(out.read_text())["figures"]["http"]
    assert http["engine"]["requests"] > 0 and http["batch"]["requests"] > 0
