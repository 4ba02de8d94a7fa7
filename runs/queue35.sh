# Session 46: paper mnist:energy-edge (4-36 h per run, beyond issue 10's 3 folds x 2 seeds)
# gave way to Table 3's PROTEINS energy cells, which issue 13 needs.
bash /work/main/runs/queue46p.sh
