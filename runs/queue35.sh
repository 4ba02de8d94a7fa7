# Session 46: paper mnist:energy-edge (4-36 h per run, beyond issue 10's 3 folds x 2 seeds)
# gave way to Table 2's MNIST energy rows (issue 12), then Table 3's PROTEINS energy cells
# (issue 13).
bash /work/main/runs/queue46x.sh
bash /work/main/runs/queue46p.sh
