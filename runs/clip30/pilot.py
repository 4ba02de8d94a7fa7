"""Pilot (session 30): chains energy-edge, reduced protocol's fold 0 with parameter seed S
(seed 0 plateaued at 27.5 % in Table 1), gradients clipped to global norm C.
Usage: python runs/clip30/pilot.py SEED CLIP OUT"""
import json
import sys

from hogwild.train._run import RunConfig, train_run

seed, clip, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
obj = json.load(open("runs/table1/reduced/chains/energy-edge/fold0-seed1/config.json"))
obj["train"] = {**obj["train"], "seed": seed, "clip_norm": clip or None}
config = RunConfig.from_json(obj)
print(config, flush=True)
metrics = train_run(config, out, log=lambda m: print(m, flush=True))
print(json.dumps({k: metrics.get(k) for k in ("test", "validation", "best_epoch", "epochs_run")}))
