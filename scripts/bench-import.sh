#!/usr/bin/env bash
# Measures `sonic data import` on a Landscape-shaped tree of world videos: COUNT world samples (2-10 s sounds) become
# H.264 + AAC MP4s in class folders (a still scene, 6 fps), then the tree is imported with 1 and with 2 workers, and a
# third run shows what a resume costs. Prints seconds and clips/s per run. Needs ffmpeg.
#   scripts/bench-import.sh            # 36 videos in /tmp/sonic-bench-import
#   COUNT=90 CONFIG=Debug scripts/bench-import.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${BENCH:-/tmp/sonic-bench-import}"
COUNT="${COUNT:-36}"
CONFIG="${CONFIG:-Release}"
SONIC="$ROOT/src/SonicDiffusion.Cli/bin/$CONFIG/net10.0/linux-x64/sonic"

[[ "$CONFIG" == Debug && -x "$SONIC" ]] || dotnet build -c "$CONFIG" "$ROOT/src/SonicDiffusion.Cli/SonicDiffusion.Cli.csproj" > /dev/null
mkdir -p "$BENCH"
if [[ ! -f "$BENCH/videos.done" ]]; then
  rm -rf "$BENCH/world" "$BENCH/src"
  "$SONIC" data synth --out "$BENCH/world" --count "$COUNT" --seed 1 > /dev/null
  python3 - "$BENCH/world/manifest.jsonl" > "$BENCH/list.tsv" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"{r['audio']}\t{r['image']}\t{r['label'].replace(' ', '_')}\t{r['index']:04d}")
PY
  while IFS=$'\t' read -r audio image label id; do
    mkdir -p "$BENCH/src/$label"
    ffmpeg -nostdin -v error -y -loop 1 -framerate 6 -i "$BENCH/world/$image" -i "$BENCH/world/$audio" -shortest \
      -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 192k "$BENCH/src/$label/${id}_0001.mp4"
  done < "$BENCH/list.tsv"
  touch "$BENCH/videos.done"
fi

run() { # run NAME WORKERS
  local start end
  start=$(date +%s.%N)
  "$SONIC" data import landscape --src "$BENCH/src" --out "$BENCH/$1" --workers "$2" > "$BENCH/$1.log"
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{sys.argv[3]:8s} workers {sys.argv[4]}: {s:6.1f} s, {int(sys.argv[5])/s:5.2f} clips/s')" "$start" "$end" "$1" "$2" "$COUNT"
  tail -4 "$BENCH/$1.log" | head -1
}
rm -rf "$BENCH/w1" "$BENCH/w2"
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
run w1 1
run w2 2
run w2 2
