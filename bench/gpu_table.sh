#!/usr/bin/env bash
# Issue 22's same-call table in ONE GPU-host call, most important first (the device time may run out): torch's
# twins beside shardit on Dawn for the whole forward (f16), attention (L = 4096, 32,760; 512 text keys), GEMM,
# then the GPU tier's checks of the new default kernels, then the VAE decode. Each step checks correctness
# before it times (golden / Float64 samples) and has its own timeout, so one hang does not take the call.
# Here first (bundles read shaders/ of the carried tree at run time):
#   ../shared/gpu/bundle.sh
#   for e in test/run-gpu.ts:final_test_gpu bench/attention.ts:final_att bench/gemm.ts:final_gemm \
#            bench/wan_forward.ts:final_wan bench/vae_decode.ts:final_vae; do
#     node bin/deno.cjs bundle ${e%%:*} -o .gpu/${e##*:}.js; done
# On the host (carry [".gpu"]):  SHARDIT_COMMIT=<hash> bash bench/gpu_table.sh $OUT
# Out: $OUT/latest.json (copy to bench/results/latest.json), a log and JSON per step.
set -u
out=${1:?usage: bash bench/gpu_table.sh OUTDIR}
source .gpu/setup.sh >/dev/null 2>&1
export PYTHONUNBUFFERED=1
latest=$out/latest.json
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/card.txt"
step() { # name seconds command...
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  timeout "$secs" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
}
step torch_wan 40 python3 bench/torch_wan.py --dtypes bf16,fp32 --iters 2 --json "$out/torch_wan.json"
step wan_f16 60 deno run -A .gpu/final_wan.js --webgpu dawn --mode single --precision f16 --layers 2 --iters 1 \
  --json "$out/wan_f16.json" --latest "$latest" --torch "$out/torch_wan.json"
step torch_attention 30 python3 bench/torch_attention.py --shapes 4096x12x128,32760x12x128,32760:512x12x128 --precision fp16,bf16 --json "$out/torch_attention.json"
step attention 45 deno run -A .gpu/final_att.js --webgpu dawn --precision f16 --timestamps --iters 3 \
  --shapes 4096x12x128,32760x12x128,32760:512x12x128 --json "$out/attention.json" --latest "$latest" --torch "$out/torch_attention.json"
step torch_gemm 30 python3 bench/torch_gemm.py --precision f16,bf16 --json "$out/torch_gemm.json"
step gemm 40 deno run -A .gpu/final_gemm.js --webgpu dawn --precision f16 --timestamps --iters 5 \
  --json "$out/gemm.json" --latest "$latest" --torch "$out/torch_gemm.json"
step test_gpu 150 deno run -A .gpu/final_test_gpu.js --filter "attention_matrix|vae_conv3d_matrix|forward f16 vs diffusers|sharded wan-small f16 on 2|vae decode wan-vae-tiny f16|vae sharded" --log "$out/test_gpu_full.log"
step wan_f32 60 deno run -A .gpu/final_wan.js --webgpu dawn --mode single --precision f32 --layers 2 --iters 1 \
  --json "$out/wan_f32.json" --latest "$latest" --torch "$out/torch_wan.json"
step torch_vae 60 python3 bench/torch_vae.py --fixture test/fixtures/wan-vae-tiny --dtypes bf16 --check-latent 2,8,8 --check-out /tmp/vae_check.f32 --json "$out/torch_vae.json"
step vae 90 deno run -A .gpu/final_vae.js --webgpu dawn --precision f16 --check-ref /tmp/vae_check.f32 --timestamps --max-seconds 60 \
  --json "$out/vae.json" --latest "$latest" --torch "$out/torch_vae.json"
grep -h -E "relative L2|msScaled|^single|^L[0-9]|^[0-9]+x|auto|rc=" "$out"/*.log 2>/dev/null | cut -c1-200 | tail -40
grep -E "^(FAIL|test:gpu)" "$out/test_gpu_full.log" 2>/dev/null | cut -c1-300
