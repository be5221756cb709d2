#!/usr/bin/env bash
# Issue 14's GPU figures in one run of at most 8 minutes, each as a ratio to a baseline of
# the same run, followed by the CPU figures of the same commit (benchmarks/bench_gpu.py).
#
#   bash benchmarks/gpu.sh fetch      # on a machine with a package registry: the wheels a stock
#                                     # CUDA PyTorch image (Python 3.12) lacks, into .whl/
#   bash benchmarks/gpu.sh            # on the GPU machine, from the project root (takes .whl/ along)
#   bash benchmarks/gpu.sh --quick    # small sizes: checks that the script runs (CPU parts too)
#   GPU_BIG=1 bash benchmarks/gpu.sh  # also the 10^8-node run (GPU_BIG_NODES nodes), after the
#       figures, until the script has run GPU_TOTAL seconds (default 470; on an H200 with 16 cores
#       it took 215 s: 110 s to generate, 105 s to simulate)
#   GPU_COMPILE=1 bash benchmarks/gpu.sh   # also the training step under torch.compile (slow to compile)
#
# A stock CUDA PyTorch image has torch, triton, numba, numpy, scipy, pandas, pyarrow, xarray,
# torch_geometric, safetensors, psutil and tqdm, but not zarr (with numcodecs, donfig,
# google-crc32c), param or dask (with partd, locket, and newer toolz, cloudpickle, fsspec).
# Those (and pytest, for the kernels' GPU tests) are installed from .whl/ without a registry;
# the project runs from the checkout. First the fused kernels' tests run on the GPU (their
# comparison with the CPU kernels), then the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}
LACKING="zarr numcodecs donfig google-crc32c param dask partd locket toolz cloudpickle fsspec
         pytest pluggy iniconfig packaging pygments"

if [ "${1:-}" = fetch ]; then
    py=.venv/bin/python; [ -x "$py" ] || py=python3
    pins=$("$py" -c "import sys; from importlib.metadata import version
print(' '.join(f'{n}=={version(n)}' for n in sys.argv[1:]))" $LACKING)
    mkdir -p "$WHEELS"
    grep -qx "/$WHEELS/" .git/info/exclude 2>/dev/null || echo "/$WHEELS/" >> .git/info/exclude
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$WHEELS" $pins
    ls "$WHEELS"
    exit 0
fi

if [ -x .venv/bin/python ]; then
    py=.venv/bin/python
else
    py=python3
    if [ -d "$WHEELS" ]; then
        "$py" -m pip install -q --no-index --no-deps --no-compile "$WHEELS"/*.whl
    fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$py" -c "import zarr, param, dask, triton" 2>/dev/null \
    || echo "gpu.sh: zarr, param, dask or triton does not import: run 'bash benchmarks/gpu.sh fetch' elsewhere and take .whl/ along" >&2
git log -1 --format="commit %h %s" 2>/dev/null || true
if [ "${1:-}" != --quick ] && "$py" -c "import pytest" 2>/dev/null; then
    timeout "${GPU_TEST_TIMEOUT:-100}" "$py" -m pytest -q -p no:cacheprovider tests/unit/test_gpu_kernels.py \
        tests/unit/test_graph_replay.py tests/unit/test_train_device.py -k cuda || true
fi
if [ "${GPU_COMPILE:-0}" = 1 ]; then set -- "$@" --compile; fi     # the training step under torch.compile too
timeout "${GPU_BENCH_TIMEOUT:-360}" "$py" -u -m benchmarks.bench_gpu "$@" || echo "gpu.sh: bench_gpu stopped (exit $?)"
if [ "${GPU_BIG:-0}" = 1 ]; then
    left=$(( ${GPU_TOTAL:-470} - SECONDS ))
    echo "gpu.sh: $SECONDS s so far; the huge run gets $left s"
    if [ "$left" -gt 20 ]; then
        NUMBA_NUM_THREADS=$(nproc) timeout "$left" "$py" -u -m benchmarks.bench_gpu --huge "${GPU_BIG_NODES:-100000000}" \
            || echo "gpu.sh: the huge run stopped (exit $?)"
    fi
fi
