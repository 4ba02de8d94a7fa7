import sys, time, shutil
from hogwild._cache import enable_compilation_cache; enable_compilation_cache()
from hogwild.train import TrainConfig
from hogwild.train._run import RunConfig
from hogwild.train._runs import train_runs, RunsOptions
task, model, solver, n, stack, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]=="1", int(sys.argv[6])
cfgs=[RunConfig(task, model, {"seed": 0}, TrainConfig(epochs=epochs, energy_solver=solver, seed=s, patience=5000)) for s in range(n)]
outs=[f"/tmp/prof/stk/{s}" for s in range(n)]
shutil.rmtree("/tmp/prof/stk", ignore_errors=True)
t=time.perf_counter()
res=train_runs(cfgs, outs, RunsOptions(stack=stack))
print("wall", time.perf_counter()-t, "train_seconds", [round(r["train_seconds"],1) for r in res], [round(r["validation"]["loss"],4) for r in res])
