# Session 46: paper coordinates:energy-edge (~18 h per run, beyond issue 10's 3 folds x 2
# seeds) gave way to Table 2's coordinates rows (issue 12), then Table 3's PROTEINS energy
# cells (issue 13).
bash /work/main/runs/queue46c.sh
bash /work/main/runs/queue46p.sh
