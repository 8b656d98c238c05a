"""What the command line says and where: results on stdout, progress and diagnostics on stderr through the
`editrl` logger at the level --quiet / --verbose choose, `--version`, `--debug` tracebacks, one error prefix for
`editrl` and `python -m orchestration.train`, and progress of the SFT steps that neither floods a log file nor
shows under --quiet."""

from __future__ import annotations

import importlib.metadata
import io
import json
import logging
import re
import sys

import pytest

from orchestration.cli import main
from orchestration.logs import ConsoleFormatter

TINY_SFT = ["--set", "train.sft.n_tasks=10", "--set", "train.sft.workers=1", "--set", "train.sft.reasoning=false",
            "--set", "train.sft.scan=false", "--set", "train.sft.batch_size=2",
            "--set", "train.sft.model={hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}"]


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"editrl {importlib.metadata.version('editrl')}"


def test_debug_shows_the_traceback_that_the_error_line_stands_for(capsys):
    assert main(["train", "--config", "no_such_pipeline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("editrl: error: config file 'no_such_pipeline' not found") and len(err.splitlines()) == 1
    for argv in (["--debug", "train", "--config", "no_such_pipeline"], ["train", "--config", "no_such_pipeline", "--debug"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("editrl: error: config file 'no_such_pipeline' not found")
        assert "Traceback (most recent call last)" in err and "ConfigError" in err and "load_config" in err


def test_python_m_orchestration_train_fails_with_the_editrl_prefix(capsys, monkeypatch):
    from orchestration.train import main as train_main

    assert main(["train", "--config", "no_such_pipeline"]) == 2
    editrl = capsys.readouterr().err
    assert train_main(["--config", "no_such_pipeline"]) == 2
    assert capsys.readouterr().err == editrl
    monkeypatch.setattr(sys, "argv", ["orchestration/train.py", "--config", "no_such_pipeline"])  # as `python -m` runs it
    assert train_main() == 2
    assert capsys.readouterr().err == editrl


@pytest.mark.parametrize("before, after, expect", [
    ([], [], "info"), (["-q"], [], "quiet"), ([], ["--quiet"], "quiet"), (["-v"], [], "verbose"), ([], ["--verbose"], "verbose"),
])
def test_results_go_to_stdout_and_messages_to_stderr_at_each_verbosity(tmp_path, capsys, before, after, expect):
    out_file = tmp_path / "tasks.parquet"
    assert main([*before, "data", "generate", "--n", "3", "--out", str(out_file), *after]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"] == 3  # the result, whatever the verbosity
    if expect == "quiet":
        assert captured.err == ""
    elif expect == "info":
        assert captured.err == f"generating 3 train tasks (seed 0, 128 px) to {out_file}\n"
    else:
        assert re.fullmatch(rf"\d\d:\d\d:\d\d editrl\.data: generating 3 train tasks .* to {re.escape(str(out_file))}\n", captured.err)
    logger = logging.getLogger("editrl")
    assert not logger.handlers and logger.level == logging.NOTSET and logger.propagate  # left as it was


def test_warnings_and_errors_read_like_argparse_errors():
    def line(level: int, verbose: bool = False) -> str:
        record = logging.LogRecord("editrl.train", level, __file__, 1, "eval.json is not readable", None, None)
        return ConsoleFormatter(verbose).format(record)

    assert line(logging.ERROR) == "editrl: error: eval.json is not readable"
    assert line(logging.WARNING) == "editrl: warning: eval.json is not readable"
    assert line(logging.INFO) == "eval.json is not readable"
    assert re.fullmatch(r"\d\d:\d\d:\d\d editrl\.train: editrl: warning: eval\.json is not readable", line(logging.WARNING, True))


def _train(run_dir, *args: str) -> int:
    return main(["train", "--config", "imageedit_r1", "--run-dir", str(run_dir), "--eval-tasks", "2", *args])


def test_train_prints_its_table_on_stdout_and_its_progress_on_stderr(tmp_path, fake_training, capsys):
    run_dir = tmp_path / "run"
    assert _train(run_dir, "--iterations", "2") == 0
    captured = capsys.readouterr()
    table = (run_dir / "eval.md").read_text()
    assert captured.out == table  # the result alone: `editrl train ... > table.md` keeps it clean
    progress = [line for line in captured.err.splitlines() if line.startswith("iter ")]
    assert [line.split("|")[0].strip() for line in progress] == ["iter    1", "iter    2"]  # one line each, no bar
    assert "evaluating the starting policies" in captured.err and "done in" in captured.err
    assert _train(run_dir, "--iterations", "3", "--resume", "--quiet") == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == (run_dir / "eval.md").read_text() and "after GRPO (3 it)" in captured.out


def _sft(tmp_path, *flags: str) -> int:
    return main(["sft", "--config", "imageedit_r1", "--out", str(tmp_path / "sft"), "--steps", "4", *TINY_SFT, *flags])


def test_sft_progress_is_a_line_every_few_steps_in_a_log_and_nothing_under_quiet(tmp_path, capsys):
    assert _sft(tmp_path) == 0
    captured = capsys.readouterr()
    steps = re.findall(r"^decomposer: step (\d+)/4, loss \d+\.\d{4}, [\d.]+ steps/s$", captured.err, re.M)
    assert steps == ["1", "2", "3", "4"]  # stderr is no terminal here: lines, never a bar's redraws
    assert "\r" not in captured.err and "Writing model shards" not in captured.err
    assert json.loads(captured.out)["decomposer"]["path"] == str(tmp_path / "sft" / "decomposer")
    assert _sft(tmp_path, "--quiet") == 0
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["decomposer"]["parameters"] > 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sft_progress_is_a_bar_on_a_terminal(tmp_path, monkeypatch, capsys):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert _sft(tmp_path) == 0
    err = terminal.getvalue()
    assert "sft decomposer" in err and "4/4" in err and "\r" in err  # tqdm's bar, redrawn in place
    assert not re.search(r"^decomposer: step \d+/4", err, re.M)
    assert "decomposer: loss " in err  # messages still come, written above the bar


def test_train_progress_is_a_bar_on_a_terminal_and_messages_are_written_above_it(tmp_path, fake_training, monkeypatch,
                                                                                 capsys):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert _train(tmp_path / "run", "--iterations", "2") == 0
    err = terminal.getvalue()
    assert "2/2" in err and "\r" in err and not re.search(r"^iter +\d", err, re.M)
    assert "evaluating the trained policies" in err and "done in" in err
    assert capsys.readouterr().out == (tmp_path / "run" / "eval.md").read_text()
    assert not logging.getLogger("editrl").handlers  # tqdm's redirect gave the handler back, and it was removed
