"""The kept counting energy-attention instance's run (reduced protocol, fold 2, seed 1),
retrained with condition_penalty=1000: accuracy and hogwild steps against the instance."""
import json, sys
from hogwild.train import RunConfig, TrainConfig
from hogwild.train._run import train_run
kappa = float(sys.argv[1])
cfg = json.load(open("results/instances/counting/energy-attention/config.json"))
train = TrainConfig(**cfg["train"])
run = RunConfig("counting", "energy-attention", cfg["task_options"], train, {"condition_penalty": kappa})
m = train_run(run, f"runs/pen-attn-{kappa:g}", mode="overwrite")
print(json.dumps({"test": m["test"], "best_epoch": m["best_epoch"]}))
