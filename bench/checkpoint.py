"""Benchmark: what a checkpointed hogwild run costs against the same run in one program.

Run as ``python bench/checkpoint.py [RUN] [--steps 40000] [--graphs 10] [--repeats 3]``
(RUN: a trained run directory, default ``results/instances/counting/energy-edge``, the
Table 2 instance of the counting energy). Prints one ``name: value`` line per figure.

Setup as Table 2 (`hogwild reproduce table2 RUN --x64`): the run's first ``--graphs`` test
graphs in float64, schedule S = 4, D = 3, seed 0, the certified step, ``tol`` 0 so that
every call simulates exactly ``--steps`` steps. Three calls, interleaved and timed as medians
of ``--repeats`` after a warm-up (`timed_interleaved`): the whole run in one compiled
program (``checkpoint=None``, what `simulate` does by default), the run in segments of
`SEGMENT_STEPS` with the default save interval (5 minutes: no save within a short run,
only the one at its end, as a run that ends on its budget keeps its final state), and the
run saving its state after every segment (``checkpoint_seconds=0``, the worst case).

- ``segmented_over_whole``, ``saving_every_segment_over_whole``: wall-time ratios.
- ``checkpoint_bytes``: the size of one checkpoint file (of a run with a budget of
  ``--steps``, at least two segments: its residual record grows with the budget, 12 bytes
  per check of 20 steps); ``save_ms``: the time of one save (the difference of the two
  segmented calls over the number of saves).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import jax
import numpy as np
from _common import emit, timed_interleaved

from hogwild.asynchrony import Schedule, certify, simulate
from hogwild.asynchrony._resume import SEGMENT_STEPS
from hogwild.train import cast_model, load_run, make_batch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", nargs="?", default="results/instances/counting/energy-edge")
    p.add_argument("--steps", type=int, default=40_000, help="simulated steps per call")
    p.add_argument("--graphs", type=int, default=10, help="test graphs (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per figure")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    _, data, model = load_run(args.run)
    model = cast_model(model, np.float64)
    graph = make_batch(data.test[: args.graphs], data.level, np.float64).graph
    schedule = Schedule(4, 3, 0)
    alpha = certify(model, graph, schedule).step_size
    common = {"step_size": alpha, "tol": 0.0, "max_time": args.steps}
    folder = Path(tempfile.mkdtemp())

    def whole():
        return simulate(model, graph, schedule, **common).states

    def segmented(seconds, name):
        path = folder / name

        def call():  # a run that ends on its budget keeps its file: start each call afresh
            path.unlink(missing_ok=True)
            return simulate(
                model, graph, schedule, **common, checkpoint=path, checkpoint_seconds=seconds
            ).states

        return call

    (t_whole, a, _), (t_seg, b, _), (t_save, c, _) = timed_interleaved(
        [(whole, ()), (segmented(None, "default.ckpt"), ()), (segmented(0.0, "each.ckpt"), ())],
        repeats=args.repeats,
    )
    assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), c)
    saves = -(-args.steps // SEGMENT_STEPS) - 1  # after every segment but the last
    emit("steps", args.steps)
    emit("segment_steps", SEGMENT_STEPS)
    emit("whole_s", t_whole)
    emit("segmented_s", t_seg)
    emit("saving_every_segment_s", t_save)
    emit("segmented_over_whole", t_seg / t_whole)
    emit("saving_every_segment_over_whole", t_save / t_whole)
    emit("save_ms", 1e3 * (t_save - t_seg) / max(saves, 1))
    budget = {**common, "max_time": max(args.steps, 2 * SEGMENT_STEPS)}
    emit("checkpoint_bytes", _one_checkpoint_bytes(model, graph, schedule, budget, folder))


def _one_checkpoint_bytes(model, graph, schedule, common, folder) -> int:
    """Size of the file a killed run leaves: save once, stop the run there, measure."""
    import hogwild.asynchrony._simulate as sim

    path, save = folder / "size.ckpt", sim.save_run

    def save_and_stop(*a):
        save(*a)
        raise KeyboardInterrupt

    sim.save_run = save_and_stop
    try:
        simulate(model, graph, schedule, **common, checkpoint=path, checkpoint_seconds=0.0)
    except KeyboardInterrupt:
        pass
    finally:
        sim.save_run = save
    return path.stat().st_size


if __name__ == "__main__":
    main()
