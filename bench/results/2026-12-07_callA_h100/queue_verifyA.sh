# budget: 100 s  (lead: the whole f16 forward at today's defaults beside torch, same call)
source .gpu/setup.sh >/dev/null 2>&1
mkdir -p "$OUT_DIR"; o=$OUT_DIR; cp .gpu/bundles_commit.txt "$o/" 2>/dev/null
export PYTHONUNBUFFERED=1
timeout 38 python3 bench/torch_wan.py --dtypes bf16,fp32 --iters 2 --json "$o/torch_wan.json" > "$o/torch_wan.log" 2>&1; echo "torch_wan rc=$?"
timeout 58 deno run -A .gpu/final_wan.js --webgpu dawn --mode single --precision f16 --layers 2 --iters 1 --json "$o/wan_f16.json" --torch "$o/torch_wan.json" > "$o/wan_f16.log" 2>&1; echo "wan_f16 rc=$?"
tail -15 "$o/wan_f16.log"
