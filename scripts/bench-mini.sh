#!/usr/bin/env bash
# Measures the mini trainers' step times at their real sizes (a few steps each, defaults of `sonic train`) on a small
# world, to budget scripts/train-mini.sh. Prints seconds per step (median over steps 2..N, from metrics.jsonl),
# samples/s and the projected wall time of each stage at its step count in train-mini.sh.
#   scripts/bench-mini.sh              # 300-sample world in /tmp/sonic-bench-mini, 8 steps per trainer
#   STEPS=12 THREADS=1 scripts/bench-mini.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${BENCH:-/tmp/sonic-bench-mini}"
COUNT="${COUNT:-300}"
STEPS="${STEPS:-8}"
SONIC="$ROOT/src/SonicDiffusion.Cli/bin/Release/net10.0/linux-x64/sonic"
if [[ -n "${THREADS:-}" ]]; then export OMP_NUM_THREADS="$THREADS"; fi

dotnet build -c Release "$ROOT/src/SonicDiffusion.Cli/SonicDiffusion.Cli.csproj" > /dev/null
mkdir -p "$BENCH"
[[ -f "$BENCH/world/world.json" ]] || "$SONIC" data synth --out "$BENCH/world" --count "$COUNT" --seed 1 > /dev/null
M="$BENCH/world/manifest.jsonl"
rm -rf "$BENCH/vae" "$BENCH/base" "$BENCH/clap"

report() { # report NAME BATCH STAGE_STEPS
    python3 - "$BENCH/$1/metrics.jsonl" "$1" "$2" "$3" <<'EOF'
import json, sys
path, name, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
e = [json.loads(l)["elapsed_s"] for l in open(path)]
d = sorted(b - a for a, b in zip(e, e[1:]))
s = d[len(d) // 2]
print(f"{name:5s} batch {batch:3d}: {s:6.2f} s/step, {batch / s:6.1f} samples/s -> {steps} steps ~ {steps * s / 3600:5.2f} h")
EOF
}

"$SONIC" train vae --data "$M" --out "$BENCH/vae" --steps "$STEPS" --checkpoint-every 100000 > "$BENCH/vae.log" 2>&1
"$SONIC" train base --data "$M" --vae "$BENCH/vae/vae" --out "$BENCH/base" --steps "$STEPS" --checkpoint-every 100000 --preview 0 > "$BENCH/base.log" 2>&1
"$SONIC" train clap --data "$M" --text-encoder "$BENCH/base/model" --out "$BENCH/clap" --steps "$STEPS" --checkpoint-every 100000 > "$BENCH/clap.log" 2>&1
report vae 16 "${VAE_STEPS:-4000}"
report base 32 "${BASE_STEPS:-8000}"
report clap 64 "${CLAP_STEPS:-2000}"
