import sys, time
from hogwild._cache import enable_compilation_cache; enable_compilation_cache()
from hogwild.train import TrainConfig
from hogwild.train._fit import fit
from hogwild.train._run import RunConfig, build_model, model_spec
from hogwild.tasks import make_task
task, model_name, solver = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = RunConfig(task, model_name, {"seed": 0}, TrainConfig(epochs=80, energy_solver=solver, patience=5000, condition_every=int(sys.argv[4]) if len(sys.argv)>4 else 10))
data = make_task(task, cfg.task_config())
model = build_model(model_spec(cfg, data), 0)
t=[]
r = fit(model, data, cfg.train, progress=lambda rec: t.append(time.perf_counter()))
import numpy as np
d=np.diff(t[20:])
print(f"epoch_ms: {1000*np.median(d):.1f}  mean {1000*d.mean():.1f}  steps {r.history[-1]['solver_steps']}")
