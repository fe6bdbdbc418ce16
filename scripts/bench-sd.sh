#!/usr/bin/env bash
# The SD v1-size benchmarks of docs/benchmarks.md (random weights; nothing to download), in one go, on a Release build.
# Run it on an otherwise idle machine (check `uptime`): figures taken beside other jobs are lower bounds only.
#   scripts/bench-sd.sh [OUT_DIR]        # logs to OUT_DIR (default runs/bench-<date>), one file per benchmark
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/runs/bench-$(date +%Y%m%d-%H%M)}"
PUB="${PUB:-$ROOT/runs/publish}"
mkdir -p "$OUT"
[[ "${SKIP_PUBLISH:-0}" == "1" ]] || dotnet publish -c Release -o "$PUB" "$ROOT/src/SonicDiffusion.Cli/SonicDiffusion.Cli.csproj" > "$OUT/publish.log" 2>&1
run() { local name="$1"; shift; echo "== sonic bench $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT/$name.log"; "$PUB/sonic" bench "$@" 2>&1 | tee -a "$OUT/$name.log"; }
run load load --dtypes float32,bfloat16 --steps 1
run load-cold load --dtypes float32,bfloat16 --cold
run load-tiled load --dtypes float32,bfloat16 --steps 1 --vae-tiling
run unet unet --batch 1,2 --dtypes float32,bfloat16
run vae-decode vae-decode --batch 1 --dtypes float32,bfloat16
run adapters adapters --batch 2
run audio audio
run edit edit
run stage2 stage2
run generate-mini generate --random --steps 25 --size 128
run generate-mini-1thread generate --random --steps 25 --size 128 --threads 1
echo "logs in $OUT"
