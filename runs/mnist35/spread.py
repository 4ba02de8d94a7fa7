"""How many test graphs do the paper's MNIST terrain spreads need? If a run's test error p over
n test graphs (agents of a graph agreeing) varied across splits only binomially, its std would
be sqrt(p(1-p)/n); seeds and splits only add to that, so n >= p(1-p)/std^2. Prints, per model of
the paper's Table 1 MNIST column, that lower bound, and the binomial std at our earlier 200 test
graphs (1,000 in all). python runs/mnist35/spread.py"""
from hogwild.experiments._table1 import PAPER

for model, cells in PAPER.items():
    mean, std = (v / 100 for v in cells["mnist"])
    need = mean * (1 - mean) / std**2
    at_200 = 100 * (mean * (1 - mean) / 200) ** 0.5
    print(f"{model}: paper {100*mean:.1f} ± {100*std:.1f}  test graphs >= {need:,.0f}  "
          f"binomial std at 200 test graphs {at_200:.1f}")
