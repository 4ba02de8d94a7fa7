import sys, time
from hogwild._cache import enable_compilation_cache; enable_compilation_cache()
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from hogwild.train import TrainConfig
from hogwild.train._fit import _setup, initial_state
from hogwild.train._run import RunConfig, build_model, model_spec
from hogwild.tasks import make_task
from hogwild.models._base import ReceiverSlots
from hogwild.solve._newton import _Blocks
from hogwild.solve._precision import cast_floats
task=sys.argv[1]
cfg = RunConfig(task, "energy-edge", {"seed": 0}, TrainConfig(energy_solver="newton"))
data = make_task(task, cfg.task_config())
model = build_model(model_spec(cfg, data), 0)
st = initial_state(model, data, cfg.train); s = _setup(st.model, data, cfg.train)
b = s.train[0]; solver=s.solver
model, graph = cast_floats((st.model, b.graph), jnp.float64)
h = jnp.asarray(np.random.default_rng(0).normal(size=(graph.num_nodes, model.hidden)))
def timeit(name, f, *a):
    f=jax.jit(f); jax.block_until_ready(f(*a))
    t=time.perf_counter()
    for _ in range(30): r=f(*a)
    jax.block_until_ready(r); print(f"{name}: {1000*(time.perf_counter()-t)/30:.2f} ms")
prepared = None
def energies(h):
    p = model.prepare(graph)
    e = model.node_energies(graph, h, h[graph.senders], p); return e.sum()
timeit("prepare", lambda: jax.tree_util.tree_leaves(model.prepare(graph)))
timeit("energy", energies, h)
timeit("grad", jax.grad(energies), h)
def hess(h):
    p = model.prepare(graph); slots = ReceiverSlots.traced(graph, solver.max_degree)
    return model.local_hessians(graph, h, h[graph.senders], slots, p)
timeit("local_hessians", hess, h)
def blocks(h):
    p = model.prepare(graph); slots = ReceiverSlots.traced(graph, solver.max_degree)
    return _Blocks(model, graph, h, slots, solver.max_nodes, p).factor
timeit("blocks+chol", blocks, h)
def full(h):
    return solver.solve(model, graph, h)[0]
timeit("solve (from random)", full, h)
print(graph.num_nodes, graph.num_graphs, solver.max_nodes, solver.max_degree, model.hidden)
