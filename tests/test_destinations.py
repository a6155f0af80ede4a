"""Never write over an input, and never fail to write after the work: both are one line and exit 2, before anything
is paid for."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from alpaca_lc.errors import InputError
from alpaca_lc.records.destinations import check_destinations

from .annotation.conftest import Workspace, write_workspace
from .conftest import Synthetic

RunCli = Callable[..., Result]


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_annotate_refuses_to_write_over_its_input(run_cli: RunCli, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=20)
    before = ws.outputs.read_bytes()
    result = run_cli("annotate", ws.outputs, "-o", tmp_path / "." / ws.outputs.name, "--eval-set", ws.eval_set,
                     "--cache", ws.cache)  # fmt: skip
    assert result.exit_code == 2 and ws.outputs.read_bytes() == before
    (line,) = _error_lines(result)
    assert "model_outputs.json: is also an input" in line


def test_leaderboard_refuses_to_write_over_its_annotations(run_cli: RunCli, synthetic: Synthetic) -> None:
    path = synthetic.write("results/m/j/annotations.json", synthetic.annotations("m"))
    before = path.read_bytes()
    for given in (path, synthetic.root / "results"):  # the file itself, or a folder that holds it
        result = run_cli("leaderboard", given, "-o", path, "--calibration", synthetic.calibration, "--bootstrap", "0")
        assert result.exit_code == 2 and path.read_bytes() == before
        assert "is also an input" in result.stderr


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_unwritable_outputs_are_one_line_before_any_work(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path,
                                                         where: str) -> None:  # fmt: skip
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    target = a_file / "board.csv" if where == "under_a_file" else Path("/proc/alpaca-lc-board.csv")
    annotations = synthetic.write("a.json", synthetic.annotations("m"))
    result = run_cli("leaderboard", annotations, "-o", target, "--calibration", synthetic.calibration)
    assert result.exit_code == 2
    (line,) = _error_lines(result)
    assert line.startswith(f"error: {target}: cannot write") and "Traceback" not in result.output
    report = run_cli("report", annotations, "-o", a_file / "report", "--calibration", synthetic.calibration)
    assert report.exit_code == 2 and "is a file, not a folder" in report.stderr


def test_the_gate_exits_2_not_1_when_its_summary_cannot_be_written(run_cli: RunCli, synthetic: Synthetic,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    release = synthetic.write("release.json", synthetic.annotations("m"))
    (tmp_path / "a_file").write_text("x")
    for option in ("--summary-md", "--json", "--junit"):
        result = run_cli("gate", release, "--calibration", synthetic.calibration, option, tmp_path / "a_file" / "s")
        assert result.exit_code == 2, (option, result.output)
        assert "cannot write" in result.stderr and "## alpaca-lc release gate" not in result.stdout


def test_generate_refuses_an_unwritable_output_before_generating(run_cli: RunCli, tmp_path: Path) -> None:
    ws: Workspace = write_workspace(tmp_path, n=5)
    (tmp_path / "a_file").write_text("x")
    result = run_cli("generate", "--model", "m", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                     "--eval-set", ws.eval_set, "-o", tmp_path / "a_file" / "o.json")  # fmt: skip
    assert result.exit_code == 2 and "cannot write" in result.stderr and "Connection refused" not in result.stderr
    over = run_cli("generate", "--model", "m", "--backend", "openai", "--eval-set", ws.eval_set, "-o", ws.eval_set)
    assert over.exit_code == 2 and "is also an input" in over.stderr
    assert json.loads(ws.eval_set.read_text())[0]["instruction"].startswith("Question 0")


def test_check_destinations_names_the_output_and_sees_through_links(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text("[]")
    (tmp_path / "link.json").symlink_to(source)
    with pytest.raises(InputError, match=r"link\.json: is also an input"):
        check_destinations([tmp_path / "link.json"], [source])
    check_destinations([tmp_path / "new" / "deeper" / "out.json", None], [source, None])
    assert not (tmp_path / "new").exists()  # checked, nothing created
