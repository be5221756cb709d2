#!/usr/bin/env bash
# Regenerate the shipped datasets and pretrained ROMA checkpoints (see manifest.json).
# Run from the repository root: bash assets/regenerate.sh
set -euo pipefail
ROMA=${ROMA:-.venv/bin/roma}
rm -rf assets/kuramoto_2k.zarr assets/roma_kuramoto_2k assets/scaling_kuramoto_2k
KURAMOTO="--mean-degree 10 --noise 0.1 --t-end 40 --dt 0.01 --save-every 10 --device cpu"
$ROMA simulate kuramoto --nodes 2000 --mean-degree 10 --graph-seed 1 --noise 0.1 --t-end 40 --dt 0.01 \
    --save-every 10 --seed 1 --device cpu --out assets/kuramoto_2k.zarr
# the pretrained model learns from three graphs of the family (sizes 2,000, 1,500 and 3,000;
# other seeds), so that it forecasts graphs it has never seen; only the shipped one is kept.
# No Laplacian positional encodings: eigenvectors of one graph mean nothing on another (with
# them the model fits its training graphs and loses to persistence on new ones; RESULTS.md)
extra=$(mktemp -d)
$ROMA simulate kuramoto --nodes 1500 --graph-seed 11 --seed 11 $KURAMOTO --out "$extra"/k1500.zarr
$ROMA simulate kuramoto --nodes 3000 --graph-seed 12 --seed 12 $KURAMOTO --out "$extra"/k3000.zarr
$ROMA train --data assets/kuramoto_2k.zarr "$extra"/k1500.zarr "$extra"/k3000.zarr --model roma --task forecast \
    --lookback 16 --horizon 8 --hidden 32 --supernodes 32 --levels 3 --roots 256 --walk-length 16 --steps 600 \
    --pos-dim 0 --checkpoint-every 600 --eval-every 100 --device cpu --seed 0 --out assets/roma_kuramoto_2k
rm -rf "$extra"
# scaling ladder (6 widths): only the points and the fit are shipped, not the six runs
ladder=$(mktemp -d)
$ROMA scaling --data assets/kuramoto_2k.zarr --model roma --sizes 8,12,16,24,32,48 --steps 300 \
    --lookback 16 --horizon 8 --supernodes 32 --levels 3 --pos-dim 0 --roots 256 --walk-length 16 \
    --checkpoint-every 300 --eval-every 100 --device cpu --seed 0 --out "$ladder"
mkdir -p assets/scaling_kuramoto_2k
cp "$ladder"/scaling.json "$ladder"/scaling.nc assets/scaling_kuramoto_2k/
rm -rf "$ladder"
.venv/bin/python -m roma_core.train.manifest assets/kuramoto_2k.zarr assets/roma_kuramoto_2k assets/scaling_kuramoto_2k \
    --command "bash assets/regenerate.sh" --out assets/manifest.json
