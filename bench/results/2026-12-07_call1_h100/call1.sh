# GEMM/conv sweep call (issue 22): sweep first, then torch, the matrix tests, the VAE decode.
source .gpu/setup.sh > $OUT/call.log 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.used --format=csv >> $OUT/call.log
step() { local t=$1 name=$2; shift 2; echo "=== $name (timeout $t): $*" >> $OUT/call.log; local s=$SECONDS; timeout $t "$@"; echo "=== $name rc $? $((SECONDS - s)) s" >> $OUT/call.log; }
step 160 sweep deno run -A .gpu/gemm_sweep.js --warmup 1 --repeats 2 --iters 5 --log $OUT/sweep.log --json $OUT/sweep.json > /dev/null 2>&1
step 30 torch_gemm python3 bench/torch_gemm.py --precision f16,bf16 --json $OUT/torch_gemm.json >> $OUT/call.log 2>&1
step 50 test_gpu_matrix deno run -A .gpu/gemm_test_gpu.js --filter "gemm_matrix|vae_conv3d_matrix|vae decode" --log $OUT/test_gpu_matrix.log > /dev/null 2>&1
step 45 torch_vae python3 bench/torch_vae.py --fixture test/fixtures/wan-vae-tiny --dtypes bf16 --check-latent 2,8,8 --check-out /tmp/vae_check.f32 --json $OUT/torch_vae.json >> $OUT/call.log 2>&1
step 35 gemm_bench deno run -A .gpu/gemm_bench.js --webgpu dawn --precision f16 --variants auto --timestamps --iters 5 --json $OUT/gemm_bench.json --latest $OUT/latest.json --torch $OUT/torch_gemm.json >> $OUT/call.log 2>&1
step 45 vae_f16 deno run -A .gpu/gemm_vae.js --webgpu dawn --precision f16 --check-ref /tmp/vae_check.f32 --timestamps --max-seconds 40 --latest $OUT/latest.json --torch $OUT/torch_vae.json >> $OUT/call.log 2>&1
grep -v "non-writable" $OUT/call.log > $OUT/call.tmp; mv $OUT/call.tmp $OUT/call.log
