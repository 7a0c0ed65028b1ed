# budget: 80 s  (gemm, issue 22, trimmed for call A: the packed GEMM and the "k" tiles beside today's default at the target shape with the diagnostics that say what limits them, torch same call; the convs with packed weights. The GPU Float64 tests of the new kernels run in testsA)
source .gpu/setup.sh >/dev/null 2>&1; mkdir -p "$OUT_DIR"; o=$OUT_DIR
cp .gpu/bundles_commit.txt "$o/" 2>/dev/null; echo "gemm queue (80 s), $(date -u +%FT%TZ)" > "$o/commit.txt"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > "$o/card.txt" 2>&1
S=".gpu/gemm_sweep.js --warmup 1 --repeats 2 --iters 5"
# 1. the target shape: today's default 256x128x16/4x4 (baseline), packed tiles, k tiles, diagnostics, one robustness-off row
timeout 40 deno run -A $S --only gemm --shapes 32760x1536x8960 \
  --packed-tiles 256x128/4x4,128x256/4x4,128x128/4x4,128x128/2x4 \
  --diags samek:256x128/4x4,packx,nogl:256x128x16/4x4 \
  --tiles 256x128x16/4x4,256x128x16/4x4k,128x256x16/4x4k,128x128x16/2x2k \
  --packed-toggle-tiles 256x128/4x4 --toggle-tiles 256x128x16/4x4k \
  --log "$o/sweep_main.log" --json "$o/sweep_main.json" > /dev/null 2>&1; echo "sweep main rc=$?"
grep -E "^(ok|FAIL)" "$o/sweep_main.log" | cut -c1-200
timeout 12 python3 bench/torch_gemm.py --precision f16 --json "$o/torch_gemm.json" > "$o/torch_gemm.log" 2>&1; echo "torch rc=$?"
# 2. the VAE's convs: today's conv default beside packed weights (k) and the 256-row k tile
timeout 25 deno run -A $S --only conv --convs 384@120x208,192@240x416,96@480x832 \
  --conv-tiles 128x128x16/2x2,128x128x16/2x2k,256x128x16/4x4k \
  --log "$o/sweep_conv.log" --json "$o/sweep_conv.json" > /dev/null 2>&1; echo "sweep conv rc=$?"
grep -E "^(ok|FAIL)" "$o/sweep_conv.log" | cut -c1-200
