#!/usr/bin/env bash
# Run a command as on an older kind of CPU: the instruction sets torch's kernels (ATen, oneDNN's convolutions,
# MKL) and NumPy's BLAS may use are capped, so that a machine with AMX times what a laptop without it does.
#   scripts/as_cpu_kind.sh avx2 scripts/python benchmarks/mymodel_time_to_accuracy.py --epochs 1
#   scripts/as_cpu_kind.sh avx512_bf16 scripts/test.sh
# Kinds: avx2 (most laptops), avx512 (AVX-512 without BF16), avx512_bf16 (AVX-512 with BF16, no AMX).
# Only the instructions change: clock, caches and memory stay this machine's, so the times are an estimate.
# helpers.device reads the cap (ONEDNN_MAX_CPU_ISA) and names the kind it allows; bfloat16 autocast
# follows it (off for avx2 and avx512).
set -euo pipefail
usage="usage: scripts/as_cpu_kind.sh avx2|avx512|avx512_bf16 COMMAND [ARGUMENTS...]"
if [ $# -lt 2 ]; then
  echo "$usage" >&2
  exit 2
fi
case "$1" in
  avx2)        onednn=AVX2;             aten=avx2;   mkl=AVX2;   openblas=Haswell ;;
  avx512)      onednn=AVX512_CORE;      aten=avx512; mkl=AVX512; openblas=SkylakeX ;;
  avx512_bf16) onednn=AVX512_CORE_BF16; aten=avx512; mkl=AVX512; openblas=Cooperlake ;;
  *) echo "scripts/as_cpu_kind.sh: unknown CPU kind '$1': expected avx2, avx512 or avx512_bf16" >&2; exit 2 ;;
esac
shift
export ONEDNN_MAX_CPU_ISA=$onednn ATEN_CPU_CAPABILITY=$aten MKL_ENABLE_INSTRUCTIONS=$mkl OPENBLAS_CORETYPE=$openblas
exec "$@"
