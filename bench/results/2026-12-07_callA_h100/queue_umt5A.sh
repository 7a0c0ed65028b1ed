# budget: 70 s  (umt5 bench only; its GPU tests run in testsA)
set -uo pipefail
source .gpu/setup.sh >/dev/null 2>&1
OUT_DIR=${OUT_DIR:-/tmp/umt5_out}; mkdir -p "$OUT_DIR"
OUT="$OUT_DIR" WEBGPU=dawn TORCH_SECONDS=25 SECONDS_PER_RUN=40 SCALED="w8=6" \
  VARIANTS="w16:matrix,w16:scalar,w8:matrix" bash bench/umt5_gpu.sh > "$OUT_DIR/umt5_gpu.stdout" 2>&1
echo "umt5 rc $?"
