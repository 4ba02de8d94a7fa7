"""Simulated hogwild inference: every node on its own clock, reading stale neighbour values.

One simulated time step is vectorised over nodes: every node evaluates its family's local
rule on its current views (the same code the synchronous solvers use, with views gathered
from a history of past states instead of the current ones), and the nodes whose clock
fires keep the result. A ring buffer holds the last D + 1 states, which is all a fresh
view can reach (τ ≥ t − D when it is read). Each edge also holds its receiver's current
view: it changes only when the receiver fires, and a node that does not fire computes its
packets from the views it holds, which may be up to S + D steps old, beyond the buffer.
Per family (Section 4):

- optimisation (energy GNN, GSD-GNN): h_i ← h_i − α(∂e_i/∂h_i + Σ_j g_ji) (Eq. 11), where
  the packet g_ji = ∂e_j/∂h_i was computed by j from j's own views (Eq. 13) and published
  with h_j; i reads (h_j, g_ji) from the same past time τ^i_j. Every node recomputes its
  packets each step from its current state and views, and they are stored with that state
  (history slot of time t), so a packet is exactly as old as the state it travels with.
  With heavy-ball momentum β (``momentum``) the step adds β(h_i − h_i⁻), h_i⁻ node i's own
  state before its previous update: node-local, nothing more is sent. Preconditioned
  (``precondition``, block Jacobi): h_i ← h_i − α P_i⁻¹(∂e_i/∂h_i + Σ_j g_ji) with
  P_i = ∂²e_i/∂h_i² + Σ_j C_ji, its own k × k curvature block plus the curvature packets
  C_ji = ∂²e_j/∂h_i² that travel with g_ji (`local_curvatures`): the diagonal block of
  ∇²E at the states i sees; a P_i without a Cholesky factor falls back to the plain step.
- fixed-point (IGNN): h_i ← F_i(h_i, views) (Eq. 9).
- explicit (GCN, GAT): node i applies its own next layer ℓ_i to whatever layers its views
  hold, L times, then stops (Figure 1 c).

The run stops when the synchronous residual (‖∇E‖, ‖F(H) − H‖ on real nodes, or the number
of explicit nodes still running) is at most ``tol`` — checked every ``check_every`` steps —
when it has stopped improving at its rounding floor (``stall_checks`` checks without a new
best, with the residual within `FLOOR_FACTOR` of ε times the size of its terms), when the
residual is no longer finite (``diverged``), or after ``max_time`` steps.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..graph import Graph
from ..models._base import ReceiverSlots, check_graph
from ..solve import default_tolerance
from ._coupling import degree_groups
from ._resume import CHECKPOINT_SECONDS, SEGMENT_STEPS, resume_run, run_fingerprint, save_run
from ._schedule import Schedule, reverse_edges


class AsyncTrace(eqx.Module):
    """What a simulated run did.

    ``states`` final node states (what the readout sees), ``predictions`` the readout of
    them; ``times`` / ``residuals`` the first ``checks`` residual checks; ``steps`` time
    steps simulated; ``converged`` residual reached ``tol``; ``diverged`` the residual
    stopped being finite (the run ends there: a step too large, or momentum β too
    large for the staleness); ``updates`` per node;
    ``staleness`` histogram of the age (in steps) of every neighbour value an updating node
    read, index 0..B; ``step_size`` α and ``momentum`` β used (energies; NaN otherwise);
    ``preconditioned`` whether the steps were block-Jacobi scaled.
    """

    states: Float[Array, "nodes hidden"]
    predictions: Array
    times: Int[Array, " checks"]
    residuals: Float[Array, " checks"]
    checks: Int[Array, ""]
    steps: Int[Array, ""]
    converged: Bool[Array, ""]
    stalled: Bool[Array, ""]
    diverged: Bool[Array, ""]
    updates: Int[Array, " nodes"]
    staleness: Int[Array, " ages"]
    step_size: Float[Array, ""]
    momentum: Float[Array, ""]
    preconditioned: bool = eqx.field(static=True, default=False)

    def max_staleness(self) -> int:
        """Largest age of any value read (0 if no neighbour value was read)."""
        ages = np.nonzero(np.asarray(self.staleness))[0]
        return int(ages[-1]) if ages.size else 0

    def residual_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, residuals) of the checks made."""
        n = int(self.checks)
        return np.asarray(self.times[:n]), np.asarray(self.residuals[:n])


class _Carry(eqx.Module):
    key: Array
    t: Array
    h: Array
    layer: Array
    next_update: Array
    tau: Array
    view: Array  # each edge's held view of its sender, H(τ_e) of the sender
    stamp: Array
    packets: Array
    hist_h: Array
    hist_stamp: Array
    hist_packets: Array
    updates: Array
    staleness: Array
    previous: Array  # each node's own state before its last update (heavy-ball momentum)


def curvature_layout(graph: Graph) -> tuple:
    """(receiver slots, degree groups) of ``graph``: where preconditioned steps take each
    node energy's Hessian (`local_curvatures`), host-side, once per run."""
    slots = ReceiverSlots.of(graph)
    return slots, degree_groups(slots)


def _packets(model, graph: Graph, h, h_view, prepared, receiver_slots):
    """(own gradients, outgoing packets) of an energy; with ``receiver_slots`` (the
    `curvature_layout`: preconditioned) the own curvature blocks ride along the gradients
    and each packet is g_ji followed by the flattened curvature C_ji: widths k + k² (own)
    and k + k² (packets)."""
    own, packets = model.local_gradients(graph, h, h_view, prepared)
    if receiver_slots is None:
        return own, packets
    slots, groups = receiver_slots
    own_c, packets_c = model.local_curvatures(graph, h, h_view, slots, prepared, groups)
    return (
        jnp.concatenate([own, own_c.reshape(own.shape[0], -1)], 1),
        jnp.concatenate([packets, packets_c.reshape(packets.shape[0], -1)], 1),
    )


def _scaled_direction(total, k: int):
    """P⁻¹g from the summed (gradient | curvature) rows; g where P has no Cholesky factor
    (not positive definite: a nonconvex energy)."""
    g, curvature = total[:, :k], total[:, k:].reshape(-1, k, k)
    factor = jnp.linalg.cholesky(curvature)
    direction = jax.scipy.linalg.cho_solve((factor, True), g[..., None])[..., 0]
    ok = jnp.all(jnp.isfinite(direction), axis=1, keepdims=True)
    return jnp.where(ok, direction, g)


def _family_init(model, graph: Graph, prepared, h0, receiver_slots=None):
    """(H(0), packets(0)) of a run; packets have width 0 outside energies."""
    if model.family == "explicit":
        h = model.initial_state(graph) if h0 is None else h0
    else:
        h = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype) if h0 is None else h0
    if model.family == "optimisation":
        _, packets = _packets(model, graph, h, h[graph.senders], prepared, receiver_slots)
    else:
        packets = jnp.zeros((graph.senders.shape[0], 0), h.dtype)
    return h, packets


def _family_update(model, graph, prepared, carry, h_view, receive, steps):
    """Every node's candidate new state, the packets it publishes with its current state
    (time t) and the packet history with them stored. ``receive(packets)`` stores this
    step's packets in the history and gathers every edge's incoming packet from the time
    of its view. ``steps``: (α, β, receiver slots or None: no preconditioning)."""
    h = carry.h
    if model.family == "optimisation":
        alpha, momentum, receiver_slots = steps
        own, packets = _packets(model, graph, h, h_view, prepared, receiver_slots)
        packets_in, history = receive(packets)
        incoming = jax.ops.segment_sum(packets_in, graph.receivers, num_segments=graph.num_nodes)
        total = own + incoming
        direction = total if receiver_slots is None else _scaled_direction(total, h.shape[1])
        step = h - alpha * direction + momentum * (h - carry.previous)
        return step, packets, history
    if model.family == "fixed-point":
        return model.update(graph, h, h_view, prepared), carry.packets, carry.hist_packets
    layers = [model.step(k, graph, h, h_view, prepared) for k in range(model.num_layers)]
    index = jnp.minimum(carry.layer, model.num_layers - 1)
    new = jnp.stack(layers)[index, jnp.arange(graph.num_nodes)]
    return new, carry.packets, carry.hist_packets


def _residual(model, graph: Graph, prepared, h, layer):
    """(the synchronous stopping measure on real nodes, its rounding floor).

    The residual is a sum of terms — ∇E = own gradients + incoming packets, F(H) − H — and
    the dtype cannot resolve it below ε·‖Σ|terms|‖, the floor: below about
    `FLOOR_FACTOR` times that, a run that stops improving has reached the rounding floor
    (and is `stalled`); above it, it is merely slow. Explicit models have no floor (0)."""
    mask = graph.node_mask[:, None]
    eps = jnp.finfo(h.dtype).eps

    def norm(x):
        return jnp.sqrt(jnp.sum(jnp.where(mask, x * x, 0.0)))

    if model.family == "optimisation":
        own, packets = model.local_gradients(graph, h, h[graph.senders], prepared)
        incoming = jax.ops.segment_sum(packets, graph.senders, num_segments=graph.num_nodes)
        size = jnp.abs(own) + jax.ops.segment_sum(
            jnp.abs(packets), graph.senders, num_segments=graph.num_nodes
        )
        return norm(own + incoming), eps * norm(size)
    if model.family == "fixed-point":
        mapped = model.fixed_point_map(graph, h, prepared)
        return norm(mapped - h), eps * norm(jnp.abs(mapped) + jnp.abs(h))
    running = graph.node_mask & (layer < model.num_layers)
    return jnp.sum(running).astype(h.dtype), jnp.zeros((), h.dtype)


def _uniform_below(bits, bound):
    """Integers uniform in [0, bound) from 32 random bits each (one draw per step for all
    nodes and edges is 3x cheaper than two `randint` calls; the modulo bias is below
    bound / 2**32, i.e. < 1e-8 for any stagger or delay a schedule uses)."""
    return (bits % jnp.asarray(bound, jnp.uint32)).astype(jnp.int32)


def _step(model, graph, prepared, reverse, schedule: Schedule, steps, carry: _Carry):
    """One simulated time step t -> t + 1."""
    S, D, B = schedule.stagger, schedule.delay, schedule.staleness_bound
    t, slots = carry.t, D + 1
    key, k_draw = jr.split(carry.key)
    m = carry.tau.shape[0]
    bits = jr.bits(k_draw, (m + carry.next_update.shape[0],), jnp.uint32)
    firing = (carry.next_update == t) & graph.node_mask
    if model.family == "explicit":
        firing = firing & (carry.layer < model.num_layers)
    edge_firing = firing[graph.receivers] & graph.edge_mask

    span = jnp.minimum(t - carry.tau, D)
    draw = _uniform_below(bits[:m], span + 1)
    tau = jnp.where(edge_firing, t - draw, carry.tau)
    slot = tau % slots
    # A view is re-read only when its receiver fires (τ within D, still in the ring buffer);
    # a receiver that does not fire keeps the value it holds, however old, for its packets.
    fresh = carry.hist_h[slot, graph.senders]
    h_view = jnp.where(edge_firing[:, None], fresh, carry.view)
    age = jnp.clip(t - carry.hist_stamp[slot, graph.senders], 0, B)
    staleness = carry.staleness + jax.ops.segment_sum(
        edge_firing.astype(jnp.int32), age, num_segments=B + 1
    )

    def receive(packets):  # packets computed now belong with H(t), in slot t % slots
        history = carry.hist_packets.at[t % slots].set(packets)
        return history[slot, reverse], history

    h_new, packets, hist_packets = _family_update(
        model, graph, prepared, carry, h_view, receive, steps
    )
    h = jnp.where(firing[:, None], h_new, carry.h)
    stamp = jnp.where(firing, t, carry.stamp)
    next_update = jnp.where(firing, t + 1 + _uniform_below(bits[m:], S), carry.next_update)
    write = (t + 1) % slots
    return _Carry(
        key=key,
        t=t + 1,
        h=h,
        layer=carry.layer + firing,
        next_update=next_update,
        tau=tau,
        view=h_view,
        stamp=stamp,
        packets=packets,
        hist_h=carry.hist_h.at[write].set(h),
        hist_stamp=carry.hist_stamp.at[write].set(stamp),
        hist_packets=hist_packets,
        updates=carry.updates + firing,
        staleness=staleness,
        previous=jnp.where(firing[:, None], carry.h, carry.previous),
    )


def _start(model, graph, prepared, schedule: Schedule, key, h0, receiver_slots=None) -> _Carry:
    key, k_first = jr.split(key)
    h, packets = _family_init(model, graph, prepared, h0, receiver_slots)
    n, m, slots = graph.num_nodes, graph.senders.shape[0], schedule.delay + 1
    stamp = jnp.full((n,), -1, jnp.int32)
    return _Carry(
        key=key,
        t=jnp.array(0, jnp.int32),
        h=h,
        layer=jnp.zeros((n,), jnp.int32),
        next_update=jr.randint(k_first, (n,), 0, schedule.stagger, jnp.int32),
        tau=jnp.zeros((m,), jnp.int32),
        view=h[graph.senders],
        stamp=stamp,
        packets=packets,
        hist_h=jnp.broadcast_to(h, (slots, *h.shape)),
        hist_stamp=jnp.broadcast_to(stamp, (slots, n)),
        hist_packets=jnp.broadcast_to(packets, (slots, *packets.shape)),
        updates=jnp.zeros((n,), jnp.int32),
        staleness=jnp.zeros((schedule.staleness_bound + 1,), jnp.int32),
        previous=h,
    )


MAX_SIMULATION_BYTES = 1 << 30
"""Largest simulator state `simulate` accepts (history ring buffers and residual arrays,
`simulation_bytes`): 1 GiB. A delay D keeps D + 1 copies of every state and packet."""


def check_schedule(schedule: Schedule, max_time: int) -> None:
    """Refuse a stagger or delay longer than the time budget (nothing could happen)."""
    if schedule.stagger > max_time or schedule.delay > max_time:
        raise ValueError(
            f"stagger S = {schedule.stagger} and delay D = {schedule.delay} must be at most "
            f"the time budget max_time = {max_time} (--max-time)."
        )


def simulation_bytes(
    model,
    graph: Graph,
    schedule: Schedule,
    *,
    max_time: int,
    check_every: int,
    h0=None,
    precondition: bool = False,
) -> int:
    """Bytes of the simulator's state that grow with the schedule and the budget.

    (D + 1) x nodes x state width (states), (D + 1) x edges x packet width (packets,
    energies only: k, or k + k² with the curvature of ``precondition``), (D + 1) x nodes
    int32 stamps, and ceil(max_time / check_every) residual checks (time and value). The
    compiled run holds a few more arrays of a single slot.
    """
    itemsize = np.dtype(graph.nodes.dtype).itemsize
    if h0 is not None:
        width = h0.shape[-1]
    else:
        width = model.state_size if model.family == "explicit" else model.hidden
    packet = width + (width * width if precondition else 0)
    packet = packet if model.family == "optimisation" else 0
    n, m, slots = graph.num_nodes, graph.senders.shape[0], schedule.delay + 1
    history = slots * (n * width * itemsize + m * packet * itemsize + n * 4)
    checks = -(-max_time // check_every)
    return history + checks * (4 + itemsize)


def check_simulation(
    model,
    graph: Graph,
    schedule: Schedule,
    *,
    max_time: int,
    check_every: int = 20,
    h0=None,
    precondition: bool = False,
) -> None:
    """Everything `simulate` refuses before doing any work: a graph the model was not built
    for (`GraphError`), a stagger or delay above ``max_time``, and a simulator state above
    `MAX_SIMULATION_BYTES` (ValueError, one line)."""
    check_graph(model, graph)
    if max_time < 1 or check_every < 1:
        raise ValueError(f"max_time and check_every must be >= 1; got {max_time}, {check_every}.")
    check_schedule(schedule, max_time)
    size = simulation_bytes(
        model,
        graph,
        schedule,
        max_time=max_time,
        check_every=check_every,
        h0=h0,
        precondition=precondition,
    )
    if size > MAX_SIMULATION_BYTES:
        raise ValueError(
            f"the simulation would hold {size / 2**30:.2f} GiB of history (delay D = "
            f"{schedule.delay}: {schedule.delay + 1} slots of {graph.num_nodes} nodes and "
            f"{graph.senders.shape[0]} edges; {-(-max_time // check_every)} residual checks), "
            f"above the limit of {MAX_SIMULATION_BYTES / 2**30:.0f} GiB; use a smaller delay "
            "(--delay), or a smaller max_time / larger check_every."
        )


STALL_FACTOR = 0.999
"""A check improves on the best residual so far only if it is below this fraction of it."""

FLOOR_FACTOR = 100.0
"""A run that stops improving is `stalled` only with its residual below this many times its
rounding floor (`_residual`); a float64 run far above it is slow, never stalled."""


PROGRESS_STEPS = 1000
"""A ``progress`` callback of `simulate` hears from the run about every this many steps."""


class _Loop(eqx.Module):
    """The state of a run between residual checks: the simulator's `_Carry`, the checks
    made so far (``times``, ``residuals``, count ``c``), the last residual ``r``, the best
    one, checks ``since`` it and whether the last was ``at_floor``. Everything a run needs
    to go on, so a run saved here and continued (`_advance`) is the run never stopped."""

    carry: _Carry
    times: Array
    residuals: Array
    c: Array
    r: Array
    best: Array
    since: Array
    at_floor: Array


def _begin(model, graph, schedule, key, steps, max_time, check_every, h0) -> _Loop:
    """The loop state at t = 0 (no check made yet; ``r`` the residual of H(0))."""
    prepared = model.prepare(graph)
    checks = -(-max_time // check_every)
    carry = _start(model, graph, prepared, schedule, key, h0, steps[2])
    r0, floor0 = _residual(model, graph, prepared, carry.h, carry.layer)
    return _Loop(
        carry=carry,
        times=jnp.zeros((checks,), jnp.int32),
        residuals=jnp.zeros((checks,), graph.nodes.dtype),
        c=jnp.array(0),
        r=r0,
        best=r0,
        since=jnp.array(0),
        at_floor=r0 <= FLOOR_FACTOR * floor0,
    )


def _stalled(loop: _Loop, stall_checks):
    return (loop.since >= stall_checks) & loop.at_floor


def _running(loop: _Loop, tol, stall_checks):
    """Whether the run goes on: budget left, residual above ``tol`` and finite, not stalled."""
    budget = loop.c < loop.times.shape[0]
    return budget & (loop.r > tol) & jnp.isfinite(loop.r) & ~_stalled(loop, stall_checks)


def _advance(
    model, graph, reverse, schedule, steps, tol, check_every, stall_checks, progress, loop, limit
):  # fmt: skip
    """``check_every`` steps, then a residual check, while the run goes on (`_running`) and
    fewer than ``limit`` checks have been made."""
    report_every = max(1, PROGRESS_STEPS // check_every)
    prepared = model.prepare(graph)

    def chunk(loop):
        carry = jax.lax.fori_loop(
            0,
            check_every,
            lambda _, cr: _step(model, graph, prepared, reverse, schedule, steps, cr),
            loop.carry,
        )
        r, floor = _residual(model, graph, prepared, carry.h, carry.layer)
        if progress is not None:  # host callback, every `report_every` checks

            def report():
                jax.debug.callback(progress, carry.t, r)

            jax.lax.cond(loop.c % report_every == report_every - 1, report, lambda: None)
        improved = r < STALL_FACTOR * loop.best
        return _Loop(
            carry=carry,
            times=loop.times.at[loop.c].set(carry.t),
            residuals=loop.residuals.at[loop.c].set(r),
            c=loop.c + 1,
            r=r,
            best=jnp.where(improved, r, loop.best),
            since=jnp.where(improved, 0, loop.since + 1),
            at_floor=r <= FLOOR_FACTOR * floor,
        )

    def cond(loop):
        return (loop.c < limit) & _running(loop, tol, stall_checks)

    return jax.lax.while_loop(cond, chunk, loop)


def _finish(model, graph, loop: _Loop, steps, tol, stall_checks) -> AsyncTrace:
    """The `AsyncTrace` of a run that has stopped."""
    alpha, momentum, receiver_slots = steps
    carry, r = loop.carry, loop.r
    states = model.output(carry.h) if model.family == "explicit" else carry.h
    return AsyncTrace(
        states=states,
        predictions=model.readout(graph, states),
        times=loop.times,
        residuals=loop.residuals,
        checks=loop.c,
        steps=carry.t,
        converged=r <= tol,
        stalled=(r > tol) & _stalled(loop, stall_checks),
        diverged=~jnp.isfinite(r),
        updates=carry.updates,
        staleness=carry.staleness,
        step_size=jnp.asarray(jnp.nan if alpha is None else alpha, graph.nodes.dtype),
        momentum=jnp.asarray(jnp.nan if momentum is None else momentum, graph.nodes.dtype),
        preconditioned=receiver_slots is not None,
    )


@eqx.filter_jit
def _run(
    model, graph, reverse, schedule, key, steps, tol, max_time, check_every, stall_checks, h0,
    progress,
):  # fmt: skip
    """A whole run in one compiled program: begin, advance to the end, finish."""
    loop = _begin(model, graph, schedule, key, steps, max_time, check_every, h0)
    loop = _advance(
        model, graph, reverse, schedule, steps, tol, check_every, stall_checks, progress, loop,
        loop.times.shape[0],
    )  # fmt: skip
    return _finish(model, graph, loop, steps, tol, stall_checks)


_begin_jit = eqx.filter_jit(_begin)
_finish_jit = eqx.filter_jit(_finish)


@eqx.filter_jit
def _advance_jit(
    model, graph, reverse, schedule, steps, tol, check_every, stall_checks, progress, loop, limit
):  # fmt: skip
    """`_advance` compiled on its own, with whether the run goes on after it."""
    loop = _advance(
        model, graph, reverse, schedule, steps, tol, check_every, stall_checks, progress, loop,
        limit,
    )  # fmt: skip
    return loop, _running(loop, tol, stall_checks)


def simulate(
    model,
    graph: Graph,
    schedule: Schedule = Schedule(),
    *,
    step_size: float | None = None,
    tol: float | None = None,
    max_time: int = 100_000,
    check_every: int = 20,
    stall_checks: int = 100,
    h0=None,
    momentum: float = 0.0,
    precondition: bool = False,
    progress=None,
    checkpoint=None,
    checkpoint_seconds: float | None = None,
) -> AsyncTrace:
    """Run ``model`` on ``graph`` under partial asynchrony and return its `AsyncTrace`.

    Args:
        model: any registered model (the family decides the node update).
        graph: a padded `Graph` batch; every edge needs its reverse for energy models.
        schedule: stagger S, delay D and seed; the same schedule replays the same run.
        step_size: α of Eq. 11 for optimisation-based models; None picks the certified
            safe step (`certify`). Ignored by other families.
        tol: residual at which to stop (default: the synchronous solver's tolerance;
            explicit models stop when every node has run its L layers).
        max_time: time budget in steps; ``check_every``: steps between residual checks.
        stall_checks: stop (``stalled``) after this many checks without a new best residual
            (smaller by 0.1 %) *at the rounding floor* (within `FLOOR_FACTOR` of ε times
            the size of the residual's terms): a float32 run can reach its floor above
            ``tol``; a run that is merely slow goes on to ``max_time``.
        h0: initial states (default zeros; the features for explicit models).
        momentum: heavy-ball β in [0, 1) for optimisation-based models: each node adds
            β times its own last move, h_i ← h_i − α s_i + β(h_i − h_i⁻). Not covered by
            the certificate (`certify`): with β > 0 the default step is 1/K₁, and a run it
            makes diverge ends ``diverged``. Measured (bench/async.py): 2-4x fewer steps
            to 1e-6 at the best β; β >= 0.8-0.95 diverges under staleness 7.
        precondition: block-Jacobi steps for optimisation-based models (module
            docstring): each node scales its step by the inverse of its k × k diagonal
            Hessian block, from its own curvature and its neighbours' curvature packets.
            The default step is then the certified one of `certify(precondition=True)`.
        progress: called on the host as ``progress(steps, residual)`` about every
            `PROGRESS_STEPS` simulated steps (None: never). Part of the compiled program:
            pass the same callable to every run to compile once.
        checkpoint: a file path (None: the run is one compiled call). The run goes in
            segments of `SEGMENT_STEPS` steps; every ``checkpoint_seconds`` (default
            `CHECKPOINT_SECONDS`, 5 minutes) its whole
            state is written there (atomically), and a run started with an existing file
            continues from it: the same trace an uninterrupted run gives. The file is
            removed when the run ends, unless it ends on its time budget: then it holds
            the final state, and a call with a larger ``max_time`` (all else equal)
            continues the run, giving the trace a call with that budget from the start
            gives (`ended_on_budget`).

    Raises:
        GraphError: the graph's feature sizes are not the model's.
        ValueError: a bad budget, a stagger or delay above ``max_time``, or a history
            above `MAX_SIMULATION_BYTES` (`check_simulation`), before any work is done.
        CheckpointError: ``checkpoint`` holds another run's state, a corrupt one, or one
            already past ``max_time``.
    """
    check_simulation(
        model,
        graph,
        schedule,
        max_time=max_time,
        check_every=check_every,
        h0=h0,
        precondition=precondition,
    )
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1); got {momentum}.")
    alpha = beta = receiver_slots = None
    if model.family == "optimisation":
        if step_size is None:
            from ._certificate import certify

            cert = certify(model, graph, schedule, precondition=precondition)
            step_size = cert.safe_step
            if momentum and not precondition:
                step_size = 1.0 / cert.smoothness
        if not step_size > 0:
            raise ValueError(f"step_size must be > 0; got {step_size}.")
        alpha = jnp.asarray(step_size, graph.nodes.dtype)
        beta = jnp.asarray(momentum, graph.nodes.dtype)
        receiver_slots = curvature_layout(graph) if precondition else None
        reverse = jnp.asarray(reverse_edges(graph.senders, graph.receivers))
    else:
        reverse = jnp.arange(graph.senders.shape[0], dtype=jnp.int32)
    if tol is None:
        tol = 0.5 if model.family == "explicit" else default_tolerance(graph.nodes.dtype)
    key = jr.PRNGKey(schedule.seed)
    shape = dataclasses.replace(schedule, seed=0)  # static part: one compile for all seeds
    steps = (alpha, beta, receiver_slots)
    run = (model, graph, reverse, shape, key, steps, tol, max_time, check_every, stall_checks)
    if checkpoint is None:
        return _run(*run, h0, progress)
    settings = {
        "schedule": [schedule.stagger, schedule.delay, schedule.seed],
        "step_size": None if alpha is None else float(alpha),
        "momentum": None if beta is None else float(beta),
        "precondition": receiver_slots is not None,
        "tol": float(tol),
        "check_every": check_every,
        "stall_checks": stall_checks,
    }
    fingerprints = (
        run_fingerprint(model, graph, h0, settings),  # any budget: a run can be extended
        run_fingerprint(model, graph, h0, {**settings, "max_time": max_time}),  # before 47
    )
    every = CHECKPOINT_SECONDS if checkpoint_seconds is None else checkpoint_seconds
    return _run_in_segments(run, h0, progress, checkpoint, every, fingerprints)


def ended_on_budget(trace: AsyncTrace) -> bool:
    """Whether a run stopped only because its time budget ran out (not converged, stalled
    or diverged): more steps would have continued it."""
    return not (bool(trace.converged) or bool(trace.stalled) or bool(trace.diverged))


def _run_in_segments(run, h0, progress, path, every_seconds, fingerprints) -> AsyncTrace:
    """`_run`, `SEGMENT_STEPS` at a time, continuing from the checkpoint at ``path`` if
    there is one and saving to it every ``every_seconds``. At the end the file is removed,
    unless the run ended on its budget: then it keeps the final state, which a call with a
    larger ``max_time`` continues."""
    model, graph, reverse, shape, key, steps, tol, max_time, check_every, stall_checks = run
    fingerprint, legacy = fingerprints
    loop = _begin_jit(model, graph, shape, key, steps, max_time, check_every, h0)
    loop = resume_run(path, loop, fingerprint, legacy)
    per_segment = max(1, SEGMENT_STEPS // check_every)
    checks, saved, running = loop.times.shape[0], time.monotonic(), True
    while running:
        limit = jnp.asarray(min(int(loop.c) + per_segment, checks))
        loop, running = _advance_jit(
            model, graph, reverse, shape, steps, tol, check_every, stall_checks, progress, loop,
            limit,
        )  # fmt: skip
        running = bool(running)
        if running and time.monotonic() - saved >= every_seconds:
            save_run(path, loop, fingerprint)
            saved = time.monotonic()
    trace = _finish_jit(model, graph, loop, steps, tol, stall_checks)
    if ended_on_budget(trace):
        save_run(path, loop, fingerprint)
    else:
        Path(path).unlink(missing_ok=True)
    return trace
