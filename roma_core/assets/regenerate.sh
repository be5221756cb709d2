#!/usr/bin/env bash
# Regenerate the shipped datasets and pretrained ROMA checkpoints (see manifest.json).
# Run from the repository root: bash assets/regenerate.sh [all|default|long_range]
set -euo pipefail
ROMA=${ROMA:-.venv/bin/roma}
part=${1:-all}
KURAMOTO="--mean-degree 10 --noise 0.1 --t-end 40 --dt 0.01 --save-every 10 --device cpu"
# the long-range data of RESULTS.md (K_lr = 2, s = 1.5, σ = 0.02: the far field carries
# forecastable information there), on smaller graphs
LONG_RANGE="--mean-degree 10 --noise 0.02 --long-range 2 --long-range-exponent 1.5 --t-end 40 --dt 0.01 \
    --save-every 10 --device cpu"
# pretrained models learn from three graphs of their family (other sizes and seeds), so that
# they forecast graphs they have never seen; only the shipped graph's trajectory is kept.
# No Laplacian positional encodings: eigenvectors of one graph mean nothing on another (with
# them the model fits its training graphs and loses to persistence on new ones; RESULTS.md)
TRAIN="--model roma --task forecast --lookback 16 --horizon 8 --hidden 32 --supernodes 32 --levels 3 \
    --roots 256 --walk-length 16 --pos-dim 0 --eval-every 100 --device cpu --seed 0"

if [ "$part" = all ] || [ "$part" = default ]; then
    rm -rf assets/kuramoto_2k.zarr assets/roma_kuramoto_2k assets/scaling_kuramoto_2k
    $ROMA simulate kuramoto --nodes 2000 --mean-degree 10 --graph-seed 1 --noise 0.1 --t-end 40 --dt 0.01 \
        --save-every 10 --seed 1 --device cpu --out assets/kuramoto_2k.zarr
    extra=$(mktemp -d)
    $ROMA simulate kuramoto --nodes 1500 --graph-seed 11 --seed 11 $KURAMOTO --out "$extra"/k1500.zarr
    $ROMA simulate kuramoto --nodes 3000 --graph-seed 12 --seed 12 $KURAMOTO --out "$extra"/k3000.zarr
    $ROMA train --data assets/kuramoto_2k.zarr "$extra"/k1500.zarr "$extra"/k3000.zarr $TRAIN --steps 600 \
        --checkpoint-every 600 --out assets/roma_kuramoto_2k
    rm -rf "$extra"
    # scaling ladder (6 widths): only scaling.json (runs and fits) is shipped, not the six run folders
    # (the shipped file predates ladders of several models; the Training view converts it on reading)
    ladder=$(mktemp -d)
    $ROMA scaling --data assets/kuramoto_2k.zarr --models roma --sizes 8,12,16,24,32,48 --seeds 0 --steps 300 \
        --lookback 16 --horizon 8 --supernodes 32 --levels 3 --pos-dim 0 --roots 256 --walk-length 16 \
        --checkpoint-every 300 --eval-every 100 --device cpu --out "$ladder"
    mkdir -p assets/scaling_kuramoto_2k
    cp "$ladder"/scaling.json assets/scaling_kuramoto_2k/
    rm -rf "$ladder"
fi

if [ "$part" = all ] || [ "$part" = long_range ]; then
    rm -rf assets/kuramoto_lr_4k.zarr assets/roma_kuramoto_lr_4k
    $ROMA simulate kuramoto --nodes 4000 --graph-seed 21 --seed 21 $LONG_RANGE --out assets/kuramoto_lr_4k.zarr
    extra=$(mktemp -d)
    $ROMA simulate kuramoto --nodes 3000 --graph-seed 22 --seed 22 $LONG_RANGE --out "$extra"/lr3000.zarr
    $ROMA simulate kuramoto --nodes 5000 --graph-seed 23 --seed 23 $LONG_RANGE --out "$extra"/lr5000.zarr
    $ROMA train --data assets/kuramoto_lr_4k.zarr "$extra"/lr3000.zarr "$extra"/lr5000.zarr $TRAIN --steps 1000 \
        --checkpoint-every 1000 --out assets/roma_kuramoto_lr_4k
    rm -rf "$extra"
fi

.venv/bin/python -m roma_core.train.manifest assets/kuramoto_2k.zarr assets/roma_kuramoto_2k \
    assets/scaling_kuramoto_2k assets/kuramoto_lr_4k.zarr assets/roma_kuramoto_lr_4k \
    --command "bash assets/regenerate.sh" --out assets/manifest.json
