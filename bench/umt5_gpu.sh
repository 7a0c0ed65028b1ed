#!/usr/bin/env bash
# The umT5 encoder bench on the GPU host (issue 21), torch and shardit in one command on the same card:
# bench/torch_umt5.py first (full umT5-XXL dims: the float64 check for shardit, fp32 / bf16 times), then
# bench/umt5_encoder.ts bundled (transformers' goldens through every variant, the full-dims checks, 24 layers per
# weight format: load, then encode per variant; VARIANTS as its --variants: PRECISION[:scalar|matrix|matrix1][@TILE]).
# Here:  ../shared/gpu/bundle.sh && node bin/deno.cjs bundle bench/umt5_encoder.ts -o .gpu/umt5_bench.js
# There: bash bench/umt5_gpu.sh  (run tool: carry [".gpu"]; logs and JSON in $OUT; budget about 3 minutes)
set -uo pipefail
source .gpu/setup.sh
OUT=${OUT:-/tmp/umt5_out}
mkdir -p "$OUT"
TOKENS=${TOKENS:-512} LAYERS=${LAYERS:-24}
timeout "${TORCH_SECONDS:-45}" python3 bench/torch_umt5.py --tokens "$TOKENS" --layers "$LAYERS" --rule-layers 1 --iters 5 \
  --expected /tmp/umt5_expected.safetensors --json "$OUT/torch_umt5.json" 2>&1 | tee "$OUT/torch_umt5.log"
for webgpu in ${WEBGPU:-dawn deno}; do
  timeout "${SECONDS_PER_RUN:-100}" deno run -A .gpu/umt5_bench.js --webgpu "$webgpu" --tokens "$TOKENS" --layers "$LAYERS" --rule-layers 1 --iters 3 \
    --variants "${VARIANTS:-w16:matrix,w16:scalar,w8:matrix,w8:scalar,f32}" --scaled "${SCALED:-}" --split "${SPLIT:-}" \
    --expected /tmp/umt5_expected.safetensors --torch "$OUT/torch_umt5.json" --json "$OUT/umt5_$webgpu.json" 2>&1 | tee "$OUT/umt5_$webgpu.log"
done
