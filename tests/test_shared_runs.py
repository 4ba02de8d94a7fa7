"""Processes sharing run directories and result files: a run directory is trained in by one
process at a time, a cell run by two processes trains each run once, and lines appended to
one file by writers side by side are all kept."""

import shutil
import threading

import pytest
from _support import held_elsewhere, probe, tiny_cell_protocol

from hogwild.cli import main
from hogwild.experiments._table1 import Protocol, load_rows, run_cell
from hogwild.train import (
    RunDirBusy,
    append_json_line,
    held_run_dirs,
    hold_run_dir,
    read_json_lines,
    release_run_dir,
)
from hogwild.train._checkpoint import DirectoryBusy, holding
from hogwild.train._rundir import run_progress

TINY = tiny_cell_protocol()


def test_a_held_run_directory_is_refused_until_its_holder_ends(tmp_path):
    """While another process holds a run directory this one cannot hold it, and training
    into it is refused in one line before any work; a killed holder leaves no lock."""
    run = tmp_path / "run"
    with held_elsewhere(run):
        assert not hold_run_dir(run)
        with pytest.raises(RunDirBusy, match="another process is training in it") as err:
            with held_run_dirs([tmp_path / "free", run]):
                pass
        assert "\n" not in str(err.value) and str(run) in str(err.value)
        assert hold_run_dir(tmp_path / "free")  # the free one was released on the way out
        release_run_dir(tmp_path / "free")
    assert hold_run_dir(run)
    release_run_dir(run)


def test_a_directory_held_here_is_busy_for_other_processes_until_released(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert probe(run) == "free"
    with held_run_dirs([run]):
        assert probe(run) == "busy"
        with held_run_dirs([run]):  # holding again in one process is fine ...
            pass
        assert probe(run) == "busy"  # ... and does not release the outer hold
    assert probe(run) == "free"


def test_training_into_a_directory_another_process_trains_in_exits_2(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--task", "chains", "--model", "gcn", "--epochs", "1", "--out", str(run)]
    with held_elsewhere(run):
        assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is in use: another process is training in it" in err[0]
    assert list(run.iterdir()) == []  # nothing written


def test_a_cell_leaves_runs_held_by_another_process_to_it(tmp_path):
    """Two processes running one cell: the runs another holds are skipped (and said so),
    the others trained and recorded once; a rerun after the holder ended records the
    rest, and nothing is trained twice."""
    runs, jsonl, said = tmp_path / "runs", tmp_path / "t.jsonl", []
    with held_elsewhere(runs / "tiny/chains/gcn/fold0-seed0"):
        rows = run_cell("chains", "gcn", TINY, runs, jsonl, log=said.append)
    assert [(r["fold"], r["seed"]) for r in rows] == [(1, 0)]
    assert said == ["gcn on chains: skipped fold0-seed0: another process is training them"]
    rows = run_cell("chains", "gcn", TINY, runs, jsonl, log=said.append)
    assert [(r["fold"], r["seed"]) for r in rows] == [(0, 0)]
    assert sorted((r["fold"], r["seed"]) for r in load_rows(jsonl)) == [(0, 0), (1, 0)]
    assert len(said) == 1


def test_lines_appended_by_writers_side_by_side_are_all_kept(tmp_path):
    """Each append rewrites the file (atomically); writers at once must not lose lines."""
    path, writers, lines = tmp_path / "rows.jsonl", 4, 30

    def write(w: int) -> None:
        for i in range(lines):
            append_json_line(path, {"writer": w, "line": i})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = sorted((r["writer"], r["line"]) for r in read_json_lines(path))
    assert kept == [(w, i) for w in range(writers) for i in range(lines)]


def test_a_filesystem_without_locks_is_worked_on_unlocked(tmp_path, monkeypatch):
    """flock failing for want of locks (ENOLCK) neither loses a line nor stops a run."""
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    append_json_line(tmp_path / "rows.jsonl", {"a": 1})
    assert read_json_lines(tmp_path / "rows.jsonl") == [{"a": 1}]
    with held_run_dirs([tmp_path / "run"]):
        assert hold_run_dir(tmp_path / "run")


def test_status_says_where_each_run_of_a_cell_stands_and_trains_nothing(
    tmp_path, monkeypatch, capsys
):
    """``reproduce table1 --status``: recorded rows counted, a run another process trains
    and one left resumable named with their saved epochs' state, the rest not started."""
    import hogwild.experiments._table1 as t1

    runs, out = tmp_path / "runs", tmp_path / "out"
    two = Protocol("paper", 2, 1, 2, 2, TINY.task_options)
    run_cell("chains", "gcn", two, runs, out / "table1.jsonl")  # folds 0 and 1 recorded
    monkeypatch.setitem(t1.PROTOCOLS, "paper", Protocol("paper", 4, 1, 2, 2, TINY.task_options))
    resumable = runs / "paper/chains/gcn/fold3-seed0"  # a saved state, no metrics
    resumable.mkdir(parents=True)
    shutil.copy(runs / "paper/chains/gcn/fold0-seed0/state.eqx", resumable)
    argv = ["reproduce", "table1", "--protocol", "paper", "--cell", "chains:gcn", "--status"]
    argv += ["--out", str(out), "--runs-dir", str(runs)]
    capsys.readouterr()
    with held_elsewhere(runs / "paper/chains/gcn/fold2-seed0"):
        (runs / "paper/chains/gcn/fold2-seed0/config.json").write_text("{}")
        assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "chains:gcn: 2/4 runs recorded",
        "  fold2-seed0: training elsewhere",
        "  fold3-seed0: resumable (epoch 2)",
    ]
    assert [p.name for p in resumable.iterdir()] == ["state.eqx"]  # nothing trained
    assert run_progress(runs / "paper/chains/gcn/fold0-seed0") == "finished"


@pytest.mark.parametrize(("workers", "calls"), [(1, [[0], [1], [2]]), (2, [[0, 1, 2]])])
def test_energy_runs_are_claimed_one_at_a_time_unless_workers_share_them(
    tmp_path, monkeypatch, workers, calls
):
    """Alone, a process holds one energy run at a time (another process can take the
    next); with ``workers`` > 1 it holds every free run, so its pool never waits for the
    slowest run of a batch before starting the next."""
    import hogwild.experiments._table1 as t1

    seen = []

    def record(configs, outs, options, **kwargs):
        seen.append([int(out.name[4]) for out in outs])  # "fold<k>-seed0"

    monkeypatch.setattr(t1, "train_runs", record)
    runs, jsonl = tmp_path / "runs", tmp_path / "t.jsonl"
    three = Protocol("tiny", 3, 1, 2, 2, TINY.task_options)
    run_cell("chains", "energy-node", three, runs, jsonl, workers=workers)
    assert seen == calls


def test_a_table2_row_another_process_recorded_first_is_taken_not_recorded_again(tmp_path):
    """Two processes completing one row (`table2_rows` shared seed by seed): the second
    takes the row the first recorded and appends nothing; `--status` names an asynchronous
    run another process holds."""
    from hogwild.experiments._async_eval import run_checkpoint
    from hogwild.experiments._table2 import _record_once, table2_settings, table2_status

    options = {"runs": 2, "max_time": 100}
    settings = table2_settings(**options)
    jsonl, run = tmp_path / "table2.jsonl", "runs/x"
    entries = [
        {"seed": s, "converged": True, "stalled": False, "diverged": False, "steps": 40}
        for s in (0, 1)
    ]
    first = {"run": run, "settings": settings, "async": entries, "by": "first"}
    assert _record_once(jsonl, first, settings) == first
    assert _record_once(jsonl, {**first, "by": "second"}, settings)["by"] == "first"
    assert read_json_lines(jsonl) == [first]
    other = "runs/y"
    with held_elsewhere(
        run_checkpoint(tmp_path / "table2.checkpoints", other, 1).with_suffix(".held")
    ):
        status = table2_status([run, other], jsonl, **options)
    assert status == [
        f"{run}: recorded (2/2 reached tolerance)",
        f"{other}:",
        "  seed 0: not started",
        "  seed 1: being simulated by another process",
    ]


def test_a_held_directory_takes_its_own_lines_and_is_busy_elsewhere(tmp_path):
    """`holding`: appending into the held directory takes no second lock (a `flock` on a
    second descriptor would wait for this very process), other processes see it busy, and
    a directory another process holds is refused (no ``busy``) or waited for."""
    held = tmp_path / "held"
    with holding(held):
        appender = threading.Thread(
            target=append_json_line, args=(held / "rows.jsonl", {"a": 1}), daemon=True
        )
        appender.start()
        appender.join(timeout=30.0)
        assert not appender.is_alive()  # it did not wait for its own process
        assert probe(held) == "busy"
    assert probe(held) == "free" and read_json_lines(held / "rows.jsonl") == [{"a": 1}]
    with held_elsewhere(held), pytest.raises(DirectoryBusy, match="held by another process"):
        with holding(held):
            pass


def test_a_directory_remade_while_waiting_is_held_afresh(tmp_path):
    """The directory a waiter waits for is removed and made again before its holder ends:
    the waiter's lock belongs to the removed one, so it locks the new one; another process
    then finds the directory at that path busy."""
    held, said, inside = tmp_path / "held", [], []

    def wait_and_hold():
        with holding(held, busy=lambda: said.append("waiting")):
            inside.append(probe(held))

    with held_elsewhere(held):
        waiter = threading.Thread(target=wait_and_hold)
        waiter.start()
        waiter.join(timeout=2.0)
        assert waiter.is_alive() and said == ["waiting"] and not inside
        shutil.rmtree(held)
        held.mkdir()
    waiter.join()
    assert inside == ["busy"] and said == ["waiting"]


def test_async_of_a_run_and_schedule_another_process_evaluates_exits_2(tmp_path, capsys):
    """A second ``hogwild async`` of one run and schedule (``STEM.partial/`` held by the
    first) is refused in one line before loading anything, and writes nothing."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")  # refused before the run is read
    work = run / "async-S4-D3.partial"
    with held_elsewhere(work):
        assert main(["async", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{work} is in use: another process is running" in err[0]
    assert list(work.iterdir()) == [] and sorted(p.name for p in run.iterdir()) == [
        "async-S4-D3.partial",
        "config.json",
    ]
