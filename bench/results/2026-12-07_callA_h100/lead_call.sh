#!/usr/bin/env bash
# The lead's combined GPU call: each queued script .gpu/queue_<name>.sh with its own limit, outputs tarred
# (the device returns at most 8 files). usage: bash .gpu/lead_call.sh "name:secs name:secs ..."
set -u
out=$OUT; work=/tmp/callout; mkdir -p $work
source .gpu/setup.sh >/dev/null 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$work/card.txt"
for item in $1; do
  name=${item%%:*}; secs=${item##*:}
  t0=$SECONDS
  mkdir -p "$work/$name"
  if [ -f ".gpu/queue_$name.sh" ]; then
    OUT_DIR="$work/$name" timeout -k 5 "$secs" bash ".gpu/queue_$name.sh" >"$work/$name/run.log" 2>&1
    rc=$?
  else
    echo "no .gpu/queue_$name.sh" >"$work/$name/run.log"; rc=404
  fi
  echo "$name rc=$rc $((SECONDS - t0)) s (limit $secs)" | tee -a "$work/STATUS"
  tar czf "$out/all.tgz" -C $work . # after every step, so a kill at the call's limit still returns what ran
done
cat $work/STATUS
