# budget: 125 s  (lead: GPU Float64 / golden tests of the new kernels and of today's defaults, one process)
source .gpu/setup.sh >/dev/null 2>&1
mkdir -p "$OUT_DIR"; o=$OUT_DIR
timeout 120 deno run -A .gpu/test_gpu.js --filter "gemm_matrix_packed|gemm_pack|4x4k|2x2k|4x2k|2x4k|flash w|rising scores|parts merged|config w|wide|gemm_wx|umt5: |attention_matrix|forward f16 vs diffusers|sharded wan-small f16 on 2|vae_conv3d_matrix|vae decode wan-vae-tiny f16|vae sharded" --log "$o/test_gpu.log" > "$o/test_gpu.out" 2>&1; echo "test_gpu rc=$?"
grep -cE "^ok" "$o/test_gpu.log"; grep -E "^FAIL" "$o/test_gpu.log" | cut -c1-300; tail -3 "$o/test_gpu.out"
