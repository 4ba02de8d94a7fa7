"""Chains fold 0, parameter seed 1, reduced protocol, for a few epochs under whichever hogwild
is first on sys.path: python run.py OUT EPOCHS [fold=F] [model=M] [key=value ...] (TrainConfig
overrides, e.g. seed=0 energy_solver=lbfgs solver_tol=1e-6).
Used to find where today's code leaves the trajectory of Table 1's 0.0 % row (issue 10)."""
import dataclasses
import sys

import hogwild
from hogwild.experiments._table1 import PROTOCOLS
from hogwild.train import RunConfig, train_run

out, epochs = sys.argv[1], int(sys.argv[2])
overrides = dict(a.split("=", 1) for a in sys.argv[3:])
fold = int(overrides.pop("fold", 0))
model = overrides.pop("model", "energy-edge")
train = PROTOCOLS["reduced"].train_config("chains", 1)
fields = {f.name: f.type for f in dataclasses.fields(train)}
typed = {k: (float(v) if "float" in str(fields[k]) else int(v) if "int" in str(fields[k]) else v)
         for k, v in overrides.items()}
train = dataclasses.replace(train, epochs=epochs, **typed)
print(hogwild.__file__, train, flush=True)
train_run(RunConfig("chains", model, {"seed": fold}, train), out)
