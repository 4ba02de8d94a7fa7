import sys, time
from hogwild._cache import enable_compilation_cache; enable_compilation_cache()
import jax, numpy as np
from hogwild.train import TrainConfig
from hogwild.train._fit import _setup, initial_state
from hogwild.train._step import train_step, eval_step
from hogwild.train._run import RunConfig, build_model, model_spec
from hogwild.tasks import make_task
task, model_name, solver = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = RunConfig(task, model_name, {"seed": 0}, TrainConfig(energy_solver=solver))
data = make_task(task, cfg.task_config())
model = build_model(model_spec(cfg, data), 0)
st = initial_state(model, data, cfg.train); s = _setup(st.model, data, cfg.train)
b = s.train[0]; h = st.train_states[0]; m, o = st.model, st.opt_state
def tr():
    global m,o,h
    out = train_step(m, o, b, h, s.optimiser, s.kind, s.solver, s.adjoint); jax.block_until_ready(out.loss)
    m,o,h = out.model,out.opt_state,out.states
    return out
def ev():
    r = eval_step(m, s.validation[0], st.validation_states[0], s.kind, s.solver); jax.block_until_ready(r[0])
for f in (tr, ev):
    for _ in range(30): f()
    t=time.perf_counter(); 
    for _ in range(50): f()
    print(f.__name__, "ms", 1000*(time.perf_counter()-t)/50)
out=tr(); print(out.forward, out.adjoint)
print(b.graph.num_nodes, b.graph.num_graphs, getattr(b.graph,'senders',None).shape if hasattr(b.graph,'senders') else '')
