# budget: 110 s  (attention, issue 22 point 4: flash2 w* configs (32 query rows per subgroup) and the unrun flash configs, each checked against Float64 then timed at 32760 and 32760:512 (4096 last); diagnostics (what the K/V copies, the softmax, the rescale barriers cost) and the VAE's wide kernel at 6240; torch SDPA same call. The GPU Float64 tests of w*/wide run in queue_testsA.sh)
source .gpu/setup.sh >/dev/null 2>&1; mkdir -p "$OUT_DIR"; o=$OUT_DIR
echo "attention queue: $(cat .gpu/bundles_commit.txt 2>/dev/null | head -1), $(date -u +%FT%TZ)" | tee "$o/commit.txt"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > "$o/card.txt" 2>&1
S=.gpu/attention_sweep.js
export PYTHONUNBUFFERED=1
timeout 62 deno run -A $S --configs w4x32o,f8x32o,w4x16,w4x32o1,w4x16_1,w8x16o,w8x16,w4x32on,w4x16n,w4x32oh,w2x32,f16x16o,f8x32ol --shapes 32760,32760:512,4096 --jsonl "$o/sweep_default.jsonl" > "$o/sweep_default.log" 2>&1; echo "sweep default rc=$?"
grep -E "^(check|time)" "$o/sweep_default.log" | grep -E "FAIL|WRONG| 32760: gpu" | cut -c1-110
timeout 16 python3 bench/torch_attention.py --shapes 4096x12x128,32760x12x128,32760:512x12x128 --precision fp16,bf16 --json "$o/torch_attention.json" > "$o/torch_attention.log" 2>&1; echo "torch rc=$?"
grep -v "^{" "$o/torch_attention.log" | tail -8 | cut -c1-200
timeout 24 deno run -A $S --configs w4x32o,w4x32o+nocopy,w4x32o+nosoftmax,w4x32o+onebar,w4x32o+nocopy+nosoftmax+onebar,f8x32o --shapes 32760 --wide 6240 --jsonl "$o/sweep_diag.jsonl" > "$o/sweep_diag.log" 2>&1; echo "sweep diag+wide rc=$?"
grep -E "^(check|time)" "$o/sweep_diag.log" | grep -E "FAIL|WRONG|: gpu" | cut -c1-110
