# Session 51: Table 3's test-selected diagnostic (Gu et al.'s test-fold selection) on MUTAG,
# the energy GNN and the two models Gu et al. are quoted for first, then the rest; then
# back to the PROTEINS energy cells (runs/queue46p.sh).
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-edge gcn ignn gsd gat energy-node energy-attention; do
  hogwild reproduce table3 --protocol test-selected --cell mutag:$model --out results --runs-dir runs/table3 --workers 1
done
bash runs/queue46p.sh
