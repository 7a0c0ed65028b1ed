#!/usr/bin/env bash
# The attention part of a GPU-host call (issue 22), run there from the project root with .gpu/ beside it.
# Here first: ../shared/gpu/bundle.sh, then
#   node bin/deno.cjs bundle bench/attention_sweep.ts -o .gpu/att_sweep.js
#   node bin/deno.cjs bundle bench/attention.ts -o .gpu/att_bench.js
#   node bin/deno.cjs bundle test/run-gpu.ts -o .gpu/att_test_gpu.js
# On the host (carry [".gpu"]):  bash bench/attention_gpu.sh final|sweep|sweeptest|sweep1|confirm|bench $OUT
#   sweep:   every matrix-attention config (bench/attention_sweep.ts) with Dawn's defaults and again with
#            disable_robustness,disable_workgroup_init, and torch SDPA on the same shapes
#   final:   (the lead's combined call) confirm, then the sweep of the configs no GPU has run yet, all in
#            $OUT/attention_final.tgz; the bench's figures merged into $LATEST (default $OUT/latest.json)
#   sweeptest: the sweep with Dawn's defaults only ($CONFIGS), then the attention_matrix tests
#   sweep1:  the sweep with Dawn's defaults only ($CONFIGS: a comma list of configs, default all), then confirm
#   confirm: the attention_matrix Float64 tests (test/run-gpu.ts --filter attention_matrix), then `bench`
#   bench:   torch SDPA, then bench/attention.ts f16 with timestamps at 4096, 32760 and 32760 x 512 text keys,
#            merged into $OUT/latest.json (copy it over bench/results/latest.json, or pass LATEST=path)
# Logs and JSON go to the given folder ($OUT). Each step has its own timeout so one hang does not take the call.
set -u
mode=${1:?usage: bash bench/attention_gpu.sh sweep|confirm|bench OUTDIR}
out=${2:?usage: bash bench/attention_gpu.sh sweep|confirm|bench OUTDIR}
latest=${LATEST:-$out/latest.json}
source .gpu/setup.sh >/dev/null 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/card.txt"
export PYTHONUNBUFFERED=1
shapes="4096x12x128,32760x12x128,32760:512x12x128"

torch() {
  timeout 100 python3 bench/torch_attention.py --shapes "$shapes" --precision fp16,bf16 --json "$out/torch_attention.json" >"$out/torch_attention.log" 2>&1
  echo "torch rc=$?"; grep -v "^{" "$out/torch_attention.log" | cut -c1-250
}

bench() {
  torch
  timeout 150 deno run -A .gpu/att_bench.js --webgpu dawn --precision f16 --timestamps --iters 3 --shapes "$shapes" \
    --json "$out/attention_dawn.json" --latest "$latest" --torch "$out/torch_attention.json" >"$out/attention_dawn.log" 2>&1
  echo "bench rc=$?"; grep -E "^(shape|L[0-9]|skipped|wrote)" "$out/attention_dawn.log" | cut -c1-200
}

case "$mode" in
  final)
    # the lead's combined call: tests, then the bench into $LATEST (default $OUT/latest.json), then the sweep of
    # the configs not yet measured on a GPU (256-query workgroups, 16-key tiles, 16-byte loads); every log in one
    # folder, tarred to $OUT/attention_final.tgz (a call brings back at most 8 files)
    dir=$(mktemp -d); real_out=$out; out=$dir
    timeout 200 deno run -A .gpu/att_test_gpu.js --filter attention_matrix --log "$out/test_attention_matrix.log" >/dev/null 2>&1
    echo "tests rc=$?"; grep -E "^(FAIL|test:gpu)" "$out/test_attention_matrix.log" | cut -c1-300
    bench
    timeout 150 deno run -A .gpu/att_sweep.js --configs ${CONFIGS:-f8x32o,f8x32ol,f8x16,f8x16l,f16x16o,f16x16} --jsonl "$out/sweep_default.jsonl" >"$out/sweep_default.log" 2>&1
    echo "sweep rc=$?"; grep -h -E "^(check|time|skip)|done|rror" "$out/sweep_default.log" | cut -c1-170
    tar -czf "$real_out/attention_final.tgz" -C "$dir" .
    ;;
  sweeptest)
    # one toggle set, the configs in $CONFIGS (default: all), then the attention_matrix tests (no bench)
    timeout 170 deno run -A .gpu/att_sweep.js ${CONFIGS:+--configs $CONFIGS} --jsonl "$out/sweep_default.jsonl" >"$out/sweep_default.log" 2>&1
    echo "sweep default rc=$?"; grep -h -E "^(check|time|skip)|done|rror" "$out/sweep_default.log" | cut -c1-170
    timeout 200 deno run -A .gpu/att_test_gpu.js --filter attention_matrix --log "$out/test_attention_matrix.log" >/dev/null 2>&1
    echo "tests rc=$?"; grep -E "^(FAIL|test:gpu)" "$out/test_attention_matrix.log" | cut -c1-300
    ;;
  sweep1)
    # one toggle set, the configs in $CONFIGS (default: all), then the confirmation
    timeout 170 deno run -A .gpu/att_sweep.js ${CONFIGS:+--configs $CONFIGS} --jsonl "$out/sweep_default.jsonl" >"$out/sweep_default.log" 2>&1
    echo "sweep default rc=$?"; grep -h -E "^(check|time|skip)|done|rror" "$out/sweep_default.log" | cut -c1-170
    timeout 200 deno run -A .gpu/att_test_gpu.js --filter attention_matrix --log "$out/test_attention_matrix.log" >/dev/null 2>&1
    echo "tests rc=$?"; grep -E "^(FAIL|test:gpu)" "$out/test_attention_matrix.log" | cut -c1-300
    bench
    ;;
  sweep)
    timeout 170 deno run -A .gpu/att_sweep.js ${CONFIGS:+--configs $CONFIGS} --jsonl "$out/sweep_default.jsonl" >"$out/sweep_default.log" 2>&1
    echo "sweep default rc=$?"
    torch
    timeout 150 deno run -A .gpu/att_sweep.js --toggles disable_robustness,disable_workgroup_init --jsonl "$out/sweep_norobust.jsonl" >"$out/sweep_norobust.log" 2>&1
    echo "sweep norobust rc=$?"
    grep -h -E "^(check|time|skip)|done|rror" "$out/sweep_default.log" "$out/sweep_norobust.log" | cut -c1-170
    ;;
  confirm)
    timeout 200 deno run -A .gpu/att_test_gpu.js --filter attention_matrix --log "$out/test_attention_matrix.log" >/dev/null 2>&1
    echo "tests rc=$?"; grep -E "^(FAIL|fail|test:gpu)" "$out/test_attention_matrix.log" | cut -c1-300
    bench
    ;;
  bench) bench ;;
  *) echo "unknown mode $mode (final|sweep|sweeptest|sweep1|confirm|bench)"; exit 2 ;;
esac
