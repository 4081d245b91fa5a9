#!/bin/sh
# The multi-head exact attention benchmark figures (heads, GQA, causal, layouts), one command
# each; prints bench_mha's key=value lines. Medians of --reps runs; compare ratios within one run
# of this script only (the machine may be shared: the CPU-time fraction is the steadier figure there).
#   tests/bench_figures.sh build/release [build/portable]
set -eu
B=${1:-build/release}/tests/bench_mha
P=${2:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "# 1. one rank, n=16384, fraction of the same-run GEMM peak (4096 x 4096 x d)"
for b in "$B" ${P:+$P/tests/bench_mha}; do
  for d in 64 128; do for p in single double; do "$b" n=16384 d=$d precision=$p reps=3; done; done
done
# field NAME of a key=value line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# "A / B" of two numbers, 3 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "# 2. --threads 2 vs 1 (efficiency = time(1) / (2 time(2)); wall clock, so only on an idle machine)"
t1=$("$B" n=16384 d=64 precision=single threads=1 warmup=0 reps=3); echo "$t1"
t2=$("$B" n=16384 d=64 precision=single threads=2 warmup=0 reps=3); echo "$t2"
echo "threads_2_efficiency=$(ratio "$(field time "$t1")" "$(awk -v x="$(field time "$t2")" 'BEGIN { print 2 * x }')") load=\"$(uptime | sed 's/.*load average: //')\""
echo "# 3. causal vs non-causal, n=32768 fp32, one rank (time ratio; cpu_time ratio is the steadier one)"
c0=$("$B" n=32768 d=64 precision=single causal=0 warmup=0 reps=3); echo "$c0"
c1=$("$B" n=32768 d=64 precision=single causal=1 warmup=0 reps=3); echo "$c1"
echo "causal_time_ratio=$(ratio "$(field time "$c1")" "$(field time "$c0")") causal_cpu_time_ratio=$(ratio "$(field cpu_time "$c1")" "$(field cpu_time "$c0")")"
echo "# 4. causal n=32768 fp32 on 2 ranks: zigzag, striped, contiguous"
for l in zigzag striped contiguous; do
  mpirun -n 2 "$B" n=32768 d=64 precision=single causal=1 layout=$l warmup=0 reps=3
done
echo "# 5. heads B=1 n=8192 H=16 d=64, Hkv 16 and 4: 1 rank (against single-head n=8192 in the same run),"
echo "#    then ring/allgather/ulysses on 2 ranks"
"$B" n=8192 d=64 precision=single warmup=0 reps=3
for kv in 16 4; do
  "$B" n=8192 d=64 precision=single heads=16 kv_heads=$kv warmup=0 reps=3
  for v in ring allgather ulysses; do
    mpirun -n 2 "$B" n=8192 d=64 precision=single heads=16 kv_heads=$kv variant=$v warmup=0 reps=3
  done
done
echo "# 6. PyTorch (one thread, fp32, naive) vs attnbench, n=16384"
/usr/bin/python3 "$(dirname "$0")/bench_torch_vs_attnbench.py" --bench "$B" --n 16384 --d 64 --reps 3
echo "# 7. sparsify exact leverage vs the NumPy/SciPy steps on the same X (one rank, one thread each):"
echo "#    CSC n=256 d=2^20 1%, then dense n=256 d=2^18 (X written once each into a temporary directory)"
A=${1:-build/release}/bin/attnbench
/usr/bin/python3 "$(dirname "$0")/bench_sparsify_peers.py" --attnbench "$A" --n 256 --d 1048576 --density 0.01 --reps 3
/usr/bin/python3 "$(dirname "$0")/bench_sparsify_peers.py" --attnbench "$A" --n 256 --d 262144 --density 1 --reps 3
