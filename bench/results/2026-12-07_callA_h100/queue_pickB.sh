# budget: 62 s  (lead: the whole f16 forward with call A's fastest checked GEMM and attention variants, beside torch from verifyA)
source .gpu/setup.sh >/dev/null 2>&1
mkdir -p "$OUT_DIR"; o=$OUT_DIR
read G A < <(python3 .gpu/pick.py "$(dirname "$OUT_DIR")" 2> "$o/pick.log"); cat "$o/pick.log"
echo "gemm=$G attention=$A" | tee "$o/picks.txt"
timeout 58 deno run -A .gpu/final_wan.js --webgpu dawn --mode single --precision f16 --layers 2 --iters 1 --gemm "$G" --attention "$A" \
  --json "$o/wan_f16_picks.json" --torch "$(dirname "$OUT_DIR")/verifyA/torch_wan.json" > "$o/wan_f16_picks.log" 2>&1; echo "wan_f16 picks rc=$?"
tail -12 "$o/wan_f16_picks.log"
