#!/usr/bin/env bash
# The device check of issue 25, one command, everything written to one folder (< 8 min on one
# GPU):
#   1. machine.txt          the GPU (nvidia-smi) or CPU (lscpu), torch, CUDA, compute capability,
#                           cuDNN, the dtype nn.GRU computes in under float16 / bfloat16 autocast
#   2. step_hidden1024.txt  benchmarks/pretrain_step.py at hidden 1024 and 256: the baseline,
#      step_hidden256.txt   float16 (GradScaler) and bfloat16 autocast, and training's default
#   3. pretrain.txt         benchmarks/pretrain_throughput.py: the paper's recipe (ntu60_xsub)
#                           pretraining on an NTU-sized synthetic set for up to 2 minutes, loader
#                           and augmentation included: samples/s, share of time outside the model
#   4. ntu60_projection.txt benchmarks/ntu_time_estimate.py from the hidden-1024 default step
#
#   benchmarks/gpu_check.sh [--device cuda|cpu] [--quick] [--out DIR]
#
# --quick (with --device cpu it is what CI runs): tiny sizes, one step each, a few seconds of
# pretraining; it checks that the script works, its figures mean nothing.
set -euo pipefail

device=cuda
quick=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
out="${out:-gpu_check_$(date +%Y%m%d_%H%M%S)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"

if [ "$device" = cpu ]; then
    variants=fp32,bf16,default,baseline
else
    variants=fp16,bf16,default,baseline
fi
if [ "$quick" = 1 ]; then
    hiddens="16"
    step_options=(--queue 128 --topk 16 --quick)
    pretrain_options=(--quick --seconds 5)
else
    hiddens="1024 256"
    step_options=(--steps 5)
    pretrain_options=(--seconds 120)
fi

{
    date
    if [ "$device" = cpu ]; then lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-300
    else nvidia-smi; fi
    "$python" -c "
import torch
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'threads', torch.get_num_threads())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), 'compute capability', torch.cuda.get_device_capability(0))
    print('cuDNN', torch.backends.cudnn.version())
    gru, x = torch.nn.GRU(8, 8).cuda(), torch.randn(3, 2, 8, device='cuda')
    for dtype in (torch.float16, torch.bfloat16):  # skelcmd runs nn.GRU in float32 under bfloat16
        with torch.autocast('cuda', dtype=dtype):
            print(f'nn.GRU under {dtype} autocast outputs {gru(x)[0].dtype}')"
} > "$out/machine.txt" 2>&1
cat "$out/machine.txt"

for hidden in $hiddens; do
    echo "== step benchmark, hidden $hidden"
    "$python" -m benchmarks.pretrain_step --device "$device" --hidden "$hidden" \
        --variants "$variants" "${step_options[@]}" | tee "$out/step_hidden$hidden.txt"
done

echo "== end-to-end pretraining"
"$python" -m benchmarks.pretrain_throughput --device "$device" --out "$out/pretrain" \
    "${pretrain_options[@]}" | tee "$out/pretrain.txt"

first="${hiddens%% *}"
seconds="$(awk '$1 == "default" && $3 == "s/step" { print $2 }' "$out/step_hidden$first.txt")"
echo "== the NTU-60 x-sub row of the paper's recipe, from the default step at hidden $first"
"$python" -m benchmarks.ntu_time_estimate --hidden "$first" --step-seconds "$seconds" \
    | tee "$out/ntu60_projection.txt"
rm -rf "$out/pretrain/data" "$out"/pretrain/run/*.pt  # the data set (3.6 GB), checkpoints
echo "wrote $out"
