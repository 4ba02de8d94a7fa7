# Session 46: issue 10's last Table 1 cell, reduced mnist:energy-node, on CPU 0 ahead of
# PROTEINS (issue 13 needs weeks; issue 10 is close). queue41m.sh reaches the same cell
# later: the two share it (a run directory is held by the process training it).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol reduced --cell mnist:energy-node --out results --runs-dir runs/table1 --workers 1
bash /work/main/runs/queue46p.sh
