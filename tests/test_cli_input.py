"""The command line refuses bad input early, in one line, and describes itself correctly."""

import shutil
import subprocess

import jax
import pytest

from hogwild.cli import main
from hogwild.models import MODELS, make_model
from hogwild.tasks import ChainsConfig, make_task
from hogwild.train import count_parameters, parameter_counts

COMMANDS = ("train", "evaluate", "summarise", "async", "deploy", "reproduce", "models", "tasks")


def _refused(capsys, argv) -> str:
    """Run ``hogwild argv``; assert exit status 2 and one stderr line; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--stagger", "0"], "stagger S must be an integer >= 1; got 0"),
        (["--delay", "-1"], "delay D must be an integer >= 0; got -1"),
        (
            ["--stagger", "1000000", "--delay", "1000000"],
            "stagger S = 1000000 and delay D = 1000000 must be at most the time budget "
            "max_time = 100000",
        ),
        (["--delay", "50", "--max-time", "20"], "must be at most the time budget max_time = 20"),
        (["--max-time", "0"], "--max-time must be >= 1; got 0"),
        (["--momentum", "1"], "--momentum must be in [0, 1); got 1.0"),
        (["--momentum", "-0.1"], "--momentum must be in [0, 1); got -0.1"),
    ],
)
def test_async_refuses_a_bad_schedule_before_loading_the_run(capsys, tmp_path, flags, message):
    """The run directory does not exist: the schedule error proves nothing was loaded."""
    line = _refused(capsys, ["async", "--run", str(tmp_path / "missing"), *flags])
    assert line.startswith("hogwild async: error: ") and message in line


def test_async_with_a_good_schedule_then_checks_the_run(capsys, tmp_path):
    line = _refused(capsys, ["async", "--run", str(tmp_path / "missing"), "--delay", "5"])
    assert "is not a run directory" in line


def test_console_help_lists_every_command():
    exe = shutil.which("hogwild")
    assert exe is not None, "the `hogwild` console script is not on PATH"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "``" not in out
    description = out.split("\n\n")[1]
    assert all(name in description for name in COMMANDS), description
    section = out.split("commands:")[1]
    listed = {line.split()[0] for line in section.splitlines() if line.startswith("    ")}
    assert listed == set(COMMANDS)


def test_train_help_shows_the_real_chains_defaults(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    defaults = ChainsConfig()
    assert f"chains: number of graphs ({defaults.num_graphs})" in out
    assert f"chains: nodes per chain ({defaults.length})" in out
    assert f"chains: number of classes p ({defaults.num_classes})" in out
    assert "(40)" not in out and "``" not in out


def test_parameter_counts_trace_shapes_only_and_match_built_models():
    """`parameter_counts` uses `eqx.filter_eval_shape` (no parameter is computed); the
    counts equal those of really built models, on a task other than chains too."""
    data = make_task("counting")
    counts = parameter_counts("counting")
    assert sorted(counts) == sorted(MODELS)
    for name in ("energy-attention", "ignn", "gat"):
        model = make_model(name, data.in_size, data.edge_size, data.out_size)
        assert counts[name] == count_parameters(model) > 0
    shapes = jax.eval_shape(lambda: make_model("gsd", 2, 0, 1))
    assert count_parameters(shapes) == parameter_counts()["gsd"] == 663


_COUNT_COMPILES = """
import sys, jax
compiled = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: compiled.append(event)
    if event == "/jax/core/compile/backend_compile_duration" else None
)
from hogwild.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("COMPILED", len(compiled))
"""


def test_listing_commands_compile_nothing():
    """`models`, `tasks` and help print without compiling one XLA program (each in a fresh
    process, so nothing compiled earlier can hide a compilation)."""
    import sys

    for argv in (["models"], ["tasks"], ["train", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", _COUNT_COMPILES, *argv], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "COMPILED 0", argv
        assert len(done.stdout.splitlines()) > 3, argv


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--loss", "1.5"], "`loss` must be a probability in [0, 1); got 1.5"),
        (["--event", "crash:1"], "cannot read event 'crash:1'"),
        (["--event", "melt:1@2"], "unknown event 'melt'"),
        (["--shards", "0"], "--shards must be >= 1; got 0"),
        (["--step-size", "fast"], "--step-size must be a number, 'sync' or 'minimiser'"),
        ([], "is not a run directory"),
    ],
)
def test_deploy_refuses_bad_input_before_starting_ray(capsys, tmp_path, flags, message):
    """The run directory does not exist: every flag error comes before it is read, and
    none of these starts Ray."""
    line = _refused(capsys, ["deploy", "--run", str(tmp_path / "missing"), *flags])
    assert line.startswith("hogwild deploy: error: ") and message in line
