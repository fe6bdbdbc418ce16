#!/usr/bin/env bash
# Refreshes everything the repository shows of the installed models/sonic-mini bundle (run after
# `INSTALL=1 scripts/train-mini.sh`; needs the world of that run and jq):
#   samples/            one held-out (test split) sound per class: duration 4-7 s, intensity closest to 0.75,
#                       + samples/manifest.jsonl (audio, label, intensity, where it came from)
#   docs/examples.png   sound class x seed sheet, the newcomer command's settings (seeds 1-4)
#   docs/examples-night.png  the same with --prompt "at night"
#   docs/eval-mini/ and docs/eval-mini-night/   sonic eval reports (audio only; with "at night")
#   docs/eval-mini-captions/                      reference: beta 0 with each sound's caption (the text-to-image model alone)
#   docs/eval-edit-mini/                          sonic eval edit report, with the text-only PnP baseline beside it
#   docs/eval-mini-recipe-out/, docs/eval-mini-real/   world 2 only: sounds of the recipe held out of training, and
#                       the held-out real recordings (validation split; none of them was trained on)
# (counts: EVAL_COUNT, SWEEP_COUNT, NIGHT_COUNT, EDIT_COUNT; two lanes run side by side, about 15 min on 2 cores)
# and prints `sonic bench generate` with the bundle at 1 and 2 threads. Deterministic: same bundle, same files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINI_ROOT="${MINI_ROOT:-$ROOT/runs/mini}"
MANIFEST="$MINI_ROOT/world/manifest.jsonl"
MODEL="$ROOT/models/sonic-mini"
THREADS="${THREADS:-1}"
STEPS="${STEPS:-}"          # empty = each command's default
SONIC="$ROOT/src/SonicDiffusion.Cli/bin/Release/net10.0/linux-x64/sonic"
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

cd "$ROOT"
say() { echo "[$(date '+%F %T')] $*"; }
[[ -f "$MANIFEST" ]] || { echo "error: $MANIFEST: no world (run scripts/train-mini.sh first)" >&2; exit 1; }
[[ -f "$MODEL/adapters/config.json" ]] || { echo "error: $MODEL: no installed bundle (INSTALL=1 scripts/train-mini.sh)" >&2; exit 1; }
command -v jq > /dev/null || { echo "error: jq is needed (apt-get install jq)" >&2; exit 1; }

say "building (dotnet build -c Release)"
dotnet build -c Release "$ROOT/src/SonicDiffusion.Cli/SonicDiffusion.Cli.csproj" > /dev/null

# 1. samples/
say "samples/: one test-split sound per class"
WORLD_DIR="$(dirname "$MANIFEST")"
SEED_OF_WORLD="$(jq -r .seed "$WORLD_DIR/world.json")"
rm -rf "$ROOT/samples" && mkdir -p "$ROOT/samples"
jq -s -c '[.[] | select(.split == "test" and .duration_s >= 4 and .duration_s <= 7 and (.recipe_held_out // false) == false)] | group_by(.label)
          | map(min_by((.intensity - 0.75) | fabs)) | .[]' "$MANIFEST" |
while read -r row; do
    label="$(jq -r .label <<< "$row")"
    cp "$WORLD_DIR/$(jq -r .audio <<< "$row")" "$ROOT/samples/$label.wav"
    jq -c --arg seed "$SEED_OF_WORLD" '{audio: (.label + ".wav"), label: .label, intensity, caption,
        source: ("sonic data synth --count 10000 --seed " + $seed + ", test row " + (.index | tostring))}' <<< "$row"
done > "$ROOT/samples/manifest.jsonl"
say "samples/: $(wc -l < "$ROOT/samples/manifest.jsonl") sounds, $(du -sh "$ROOT/samples" | cut -f1)"

# 2 + 3. Example sheets and evaluation reports, in two lanes (one per core, one torch thread each).
EVAL_COUNT="${EVAL_COUNT:-90}"       # held-out sounds of the main eval set (10 per class)
SWEEP_COUNT="${SWEEP_COUNT:-9}"      # sounds per beta / guidance sweep point
NIGHT_COUNT="${NIGHT_COUNT:-45}"
NIGHT_ARGS="${NIGHT_ARGS:-}"         # extra generate/eval options of the "at night" sheet and report (e.g. --audio-guidance 7.5)
EDIT_COUNT="${EDIT_COUNT:-27}"       # scenes edited (x 2 sounds x 3 injection fractions, and the text baseline of each)
BASELINE_PROMPT="${BASELINE_PROMPT:-a photo of {label\}}"
# World 2 holds one synthesis recipe per class out of training (test rows marked recipe_held_out) and real recordings
# (rows marked real): the main report takes the other test rows; two more reports take those.
WORLD2=0
grep -q '"recipe_held_out"' "$MANIFEST" && WORLD2=1
MAIN_WHERE=()
(( WORLD2 )) && MAIN_WHERE=(--where recipe_held_out=false)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
lane_a() {
    say "docs/eval-mini"
    "$SONIC" eval --data "$MANIFEST" --out "$ROOT/docs/eval-mini" --count "$EVAL_COUNT" --sweep-count "$SWEEP_COUNT" \
        --threads "$THREADS" ${STEPS:+--steps "$STEPS"} "${MAIN_WHERE[@]}"
    if (( WORLD2 )); then
        say "docs/eval-mini-recipe-out"
        "$SONIC" eval --data "$MANIFEST" --out "$ROOT/docs/eval-mini-recipe-out" --where recipe_held_out=true --count "$EVAL_COUNT" \
            --sweep-count 0 --threads "$THREADS" ${STEPS:+--steps "$STEPS"}
        say "docs/eval-mini-real"
        "$SONIC" eval --data "$MANIFEST" --out "$ROOT/docs/eval-mini-real" --split val --where real=true --count 1000 \
            --sweep-count 0 --threads "$THREADS" ${STEPS:+--steps "$STEPS"}
    fi
    say "docs/eval-mini-night"
    # shellcheck disable=SC2086
    "$SONIC" eval --data "$MANIFEST" --out "$ROOT/docs/eval-mini-night" --prompt "at night" --count "$NIGHT_COUNT" --sweep-count 0 \
        --threads "$THREADS" ${STEPS:+--steps "$STEPS"} "${MAIN_WHERE[@]}" $NIGHT_ARGS
    say "docs/eval-mini-captions"   # reference: the frozen text-to-image model alone (beta 0), each sound's caption as prompt
    "$SONIC" eval --data "$MANIFEST" --out "$ROOT/docs/eval-mini-captions" --prompt-from-caption --beta 0 --count "$NIGHT_COUNT" \
        --sweep-count 0 --threads "$THREADS" ${STEPS:+--steps "$STEPS"} "${MAIN_WHERE[@]}"
}
lane_b() {
    # Rows: samples/ in name order; columns: seeds 1-4; the newcomer command's settings otherwise.
    say "docs/examples.png"
    "$SONIC" generate --audio "$ROOT/samples" --out "$TMP/plain" --count 4 --seed 1 --threads "$THREADS" ${STEPS:+--steps "$STEPS"} \
        --sheet "$ROOT/docs/examples.png"
    say "docs/examples-night.png"
    # shellcheck disable=SC2086
    "$SONIC" generate --audio "$ROOT/samples" --out "$TMP/night" --count 4 --seed 1 --threads "$THREADS" ${STEPS:+--steps "$STEPS"} \
        --prompt "at night" --sheet "$ROOT/docs/examples-night.png" $NIGHT_ARGS
    say "docs/eval-edit-mini"
    "$SONIC" eval edit --data "$MANIFEST" --out "$ROOT/docs/eval-edit-mini" --count "$EDIT_COUNT" --threads "$THREADS" ${STEPS:+--steps "$STEPS"} \
        --text-baseline "$BASELINE_PROMPT"
}
lane_a > "$TMP/lane-a.log" 2>&1 &
a=$!
lane_b > "$TMP/lane-b.log" 2>&1 &
b=$!
rc=0
wait $a || rc=$?
cat "$TMP/lane-a.log"
wait $b || rc=$?
cat "$TMP/lane-b.log"
(( rc == 0 )) || { echo "error: a lane failed (exit $rc)" >&2; exit "$rc"; }

# 4. Speed (printed; docs/benchmarks.md records it with the machine and date).
for t in 1 2; do
    say "bench generate, $t thread(s)"
    OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$SONIC" bench generate --threads "$t"
done
say "done"
