#!/usr/bin/env bash
# Trains the world-2 sonic-mini bundle (classes as events on shared backdrops, several sound recipes per class, real
# recordings from Debian packages), resumably, on the existing trainers:
#   synth (world 2 + real clips) -> vae (the committed round-2 VAE, reused: same drawing primitives, measured in
#   TRAINING.md) -> base (round 2's UNet fine-tuned on world 2, its text encoder kept frozen) beside clap (the audio
#   encoder with augmentation, from scratch or, with CLAP_INIT, fine-tuned) -> stage1 (its CLAP-embedding cache made by
#   CACHE_SHARDS sharded `sonic data cache` processes side by side) -> stage2 (from round 2's adapters) -> classifier.
# Each finished stage's export is copied into $STAGES (in the repository, models/world2-stages by default) and, with
# COMMIT=1, committed there at once, so a later session on a fresh machine continues from what is committed: a stage
# whose export is in $STAGES is skipped. Unfinished stages continue from their run folder's last checkpoint (--resume).
#   nohup scripts/train-mini2.sh > /dev/null 2>&1 &          # progress in $MINI_ROOT/<stage>.log
# MORE lists kept stages to train further instead of skipping them: base (from its kept export), stage2 (from the kept
# bundle's adapters and projector), classifier (again, from scratch, with CLASSIFIER_STEPS); the new export replaces
# the kept one when it finishes, e.g. MORE="base stage2 classifier" BASE_STEPS=2000 ... (a later stage that depends on
# a retrained one is not retrained unless it is listed too).
# INSTALL=1 copies the bundle (and classifier) to models/sonic-mini at the end. Settings are environment variables.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINI_ROOT="${MINI_ROOT:-$ROOT/runs/mini2}"
STAGES="${STAGES:-$ROOT/models/world2-stages}"
MINI_COUNT="${MINI_COUNT:-10000}"
MINI_SEED="${MINI_SEED:-20240501}"
SEED="${SEED:-0}"
# Real recordings (scripts/real-sounds.sh writes this manifest; fetched first when missing unless FETCH_REAL=0), paired
# with about REAL_PER_CLASS scenes per class.
REAL_MANIFEST="${REAL_MANIFEST:-$ROOT/runs/real-sounds/manifest.jsonl}"
REAL_PER_CLASS="${REAL_PER_CLASS:-120}"
TEACHER="${TEACHER:-$ROOT/models/sonic-mini}"
BASE_STEPS="${BASE_STEPS:-2000}"
BASE_BATCH="${BASE_BATCH:-32}"
BASE_LR="${BASE_LR:-2e-4}"
BASE_WARMUP="${BASE_WARMUP:-100}"
BASE_EMA="${BASE_EMA:-0.995}"
CLAP_STEPS="${CLAP_STEPS:-1500}"
CLAP_BATCH="${CLAP_BATCH:-64}"
CLAP_LR="${CLAP_LR:-1e-3}"
# CLAP_INIT: an audio_encoder/ folder to fine-tune from (e.g. $TEACHER/audio_encoder) instead of training from scratch.
CLAP_INIT="${CLAP_INIT:-}"
STAGE1_STEPS="${STAGE1_STEPS:-600}"
STAGE1_BATCH="${STAGE1_BATCH:-32}"
STAGE1_LR="${STAGE1_LR:-3e-4}"
STAGE2_STEPS="${STAGE2_STEPS:-4000}"
STAGE2_BATCH="${STAGE2_BATCH:-16}"
STAGE2_LR="${STAGE2_LR:-2e-4}"
CLASSIFIER_STEPS="${CLASSIFIER_STEPS:-600}"
INSTALL="${INSTALL:-0}"
COMMIT="${COMMIT:-0}"
CHECKPOINT_MINUTES="${CHECKPOINT_MINUTES:-10}"
TRAIN_THREADS="${TRAIN_THREADS:-1}"
# Threads of the stages that run alone (stage 1, stage 2, classifier); base and clap run side by side with TRAIN_THREADS each.
STAGE_THREADS="${STAGE_THREADS:-2}"
export OMP_NUM_THREADS="$TRAIN_THREADS" MKL_NUM_THREADS="$TRAIN_THREADS"
EXTRA_ARGS="${EXTRA_ARGS:-}"
MORE="${MORE:-}"
more() { [[ " $MORE " == *" $1 "* ]]; }
mkdir -p "$MINI_ROOT" "$STAGES"
LOG_FILE="$MINI_ROOT/train-mini2.log"
# shellcheck source=scripts/train-lib.sh
source "$ROOT/scripts/train-lib.sh"

# keep STAGE EXPORT: copies a finished export into $STAGES/STAGE (and commits it with COMMIT=1).
keep() {
    local stage="$1" export="$2"
    rm -rf "$STAGES/$stage.tmp" && cp -r "$export" "$STAGES/$stage.tmp" && rm -rf "${STAGES:?}/$stage" && mv "$STAGES/$stage.tmp" "$STAGES/$stage"
    say "$stage: export kept in $STAGES/$stage ($(du -sh "$STAGES/$stage" | cut -f1))"
    if [[ "$COMMIT" == "1" ]]; then
        git -C "$ROOT" add -- "$STAGES/$stage" && git -C "$ROOT" commit -q -m "world 2 training: $stage export" -- "$STAGES/$stage" \
            && say "$stage: committed" || say "$stage: commit failed (commit $STAGES/$stage by hand)"
    fi
}

# BUILD=0 keeps the trainers already in $MINI_ROOT/bin (e.g. to continue with the build a run started with).
if [[ "${BUILD:-1}" == "0" && -x "$SONIC" ]]; then say "build: kept $MINI_ROOT/bin"; else build; fi

# 1. The world (images, captions and synthesised sounds) plus the real recordings paired with scenes of their class.
WORLD="$MINI_ROOT/world"
REAL_ARGS=()
if [[ ! -f "$REAL_MANIFEST" && "$REAL_MANIFEST" == "$ROOT/runs/real-sounds/manifest.jsonl" && "${FETCH_REAL:-1}" == "1" ]]; then
    say "real: fetching the real recordings (scripts/real-sounds.sh, Debian packages, about 3 GB of downloads)"
    "$ROOT/scripts/real-sounds.sh" "$ROOT/runs/real-sounds" >> "$MINI_ROOT/real-sounds.log" 2>&1 || say "real: scripts/real-sounds.sh failed (see $MINI_ROOT/real-sounds.log)"
fi
if [[ -f "$REAL_MANIFEST" ]]; then REAL_ARGS=(--real "$REAL_MANIFEST" --real-per-class "$REAL_PER_CLASS"); else say "synth: no $REAL_MANIFEST (run scripts/real-sounds.sh first); world without real recordings"; fi
if [[ -f "$WORLD/world.json" ]] && grep -q "\"count\": $MINI_COUNT," "$WORLD/world.json" && grep -q "\"seed\": $MINI_SEED," "$WORLD/world.json" \
    && grep -q '"world": 2,' "$WORLD/world.json" && { [[ ${#REAL_ARGS[@]} -eq 0 ]] || grep -q '"real_clips"' "$WORLD/world.json"; }; then
    say "synth: $WORLD exists, skipped"
else
    say "synth: world 2, $MINI_COUNT samples, seed $MINI_SEED -> $WORLD"
    if [[ -d "$WORLD" && ! -f "$WORLD/world.json" ]]; then rm -rf "$WORLD"; fi
    run "$MINI_ROOT/synth.log" data synth --world 2 --out "$WORLD" --count "$MINI_COUNT" --seed "$MINI_SEED" "${REAL_ARGS[@]}"
fi
MANIFEST="$WORLD/manifest.jsonl"
# The base model learns pictures and captions only (it never reads the audio); it trains on the same manifest and split
# as stage 2 so that both read one image and latent cache (the latents are encoded once, not twice).
VAE="$TEACHER/vae"

# 2 + 3. Base model (fine-tuned from the teacher, text encoder frozen) and, beside it, the audio encoder.
base_stage() {
    local from="$TEACHER" out="$MINI_ROOT/base"
    if [[ -f "$STAGES/base/model_index.json" ]]; then
        more base || { say "base: $STAGES/base kept, skipped"; return 0; }
        rm -rf "$MINI_ROOT/base-from" && cp -r "$STAGES/base" "$MINI_ROOT/base-from"
        from="$MINI_ROOT/base-from" out="$MINI_ROOT/base-more"
    fi
    say "base: $BASE_STEPS steps fine-tuned from $from, batch $BASE_BATCH, lr $BASE_LR"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/base.log" train base --data "$MANIFEST" --vae "$VAE" --out "$out" --teacher "$from" --distill-weight 0 \
        --resume --seed "$SEED" --steps "$BASE_STEPS" --batch "$BASE_BATCH" --lr "$BASE_LR" --warmup "$BASE_WARMUP" --ema "$BASE_EMA" \
        --threads "$TRAIN_THREADS" --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    keep base "$out/model"
}
clap_stage() {
    [[ -f "$STAGES/audio_encoder/config.json" ]] && { say "clap: $STAGES/audio_encoder kept, skipped"; return 0; }
    say "clap: $CLAP_STEPS steps, batch $CLAP_BATCH, augmented crops, text encoder $TEACHER/text_encoder"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/clap.log" train clap --data "$MANIFEST" --text-encoder "$TEACHER" --augment --out "$MINI_ROOT/clap" --resume ${CLAP_INIT:+--init "$CLAP_INIT"} \
        --seed "$SEED" --steps "$CLAP_STEPS" --batch "$CLAP_BATCH" --lr "$CLAP_LR" --threads "$TRAIN_THREADS" \
        --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    keep audio_encoder "$MINI_ROOT/clap/audio_encoder"
}
parallel base_stage clap_stage
BASE="$STAGES/base"
CLAP="$STAGES/audio_encoder"

# 4. Stage 1: the audio projector. Its CLAP-embedding cache (every training clip through the new encoder) is built
# first by CACHE_SHARDS one-thread processes side by side (`sonic data cache --shard I/N`); stage 1 assembles it.
CACHE_SHARDS="${CACHE_SHARDS:-2}"
if [[ -f "$STAGES/audio_projector/config.json" ]]; then say "stage1: kept, skipped"; else
    if (( CACHE_SHARDS > 1 )); then
        say "stage1 cache: $CACHE_SHARDS shards of the CLAP embeddings side by side"
        branches=()
        for ((i = 0; i < CACHE_SHARDS; i++)); do
            OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$SONIC" data cache --data "$MANIFEST" --model "$BASE" --audio-encoder "$CLAP" --split train --no-latents \
                --shard "$i/$CACHE_SHARDS" --threads 1 >> "$MINI_ROOT/cache-shard-$i.log" 2>&1 &
            branches+=($!)
        done
        for p in "${branches[@]}"; do wait "$p" || { say "stage1 cache: a shard failed (see $MINI_ROOT/cache-shard-*.log); stage 1 builds the cache itself"; }; done
        branches=()
    fi
    say "stage1: $STAGE1_STEPS steps"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=$STAGE_THREADS MKL_NUM_THREADS=$STAGE_THREADS run "$MINI_ROOT/stage1.log" train stage1 --data "$MANIFEST" --model "$BASE" --audio-encoder "$CLAP" --out "$MINI_ROOT/stage1" --resume \
        --seed "$SEED" --steps "$STAGE1_STEPS" --batch "$STAGE1_BATCH" --lr "$STAGE1_LR" --name sonic-mini --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    keep audio_projector "$MINI_ROOT/stage1/export/audio_projector"
fi

# 5. Stage 2: gated audio cross-attention from the teacher's adapters, with the new projector.
if [[ -f "$STAGES/bundle/adapters/config.json" ]] && ! more stage2; then say "stage2: kept, skipped"; else
    ADAPTERS_FROM="$TEACHER" PROJECTOR_FROM="$STAGES/audio_projector" STAGE2_OUT="$MINI_ROOT/stage2"
    if [[ -f "$STAGES/bundle/adapters/config.json" ]]; then
        rm -rf "$MINI_ROOT/bundle-from" && cp -r "$STAGES/bundle" "$MINI_ROOT/bundle-from"
        ADAPTERS_FROM="$MINI_ROOT/bundle-from" PROJECTOR_FROM="$MINI_ROOT/bundle-from/audio_projector" STAGE2_OUT="$MINI_ROOT/stage2-more"
    fi
    say "stage2: $STAGE2_STEPS steps from $ADAPTERS_FROM's adapters and $PROJECTOR_FROM"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=$STAGE_THREADS MKL_NUM_THREADS=$STAGE_THREADS run "$MINI_ROOT/stage2.log" train stage2 --data "$MANIFEST" --model "$BASE" --audio-encoder "$CLAP" --projector "$PROJECTOR_FROM" \
        --init-adapters "$ADAPTERS_FROM" --out "$STAGE2_OUT" --resume --seed "$SEED" --steps "$STAGE2_STEPS" --batch "$STAGE2_BATCH" \
        --lr "$STAGE2_LR" --name sonic-mini --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    keep bundle "$STAGE2_OUT/export/bundle"
fi

# 6. The evaluation classifier on world-2 images.
if [[ -f "$STAGES/classifier/config.json" ]] && ! more classifier; then say "classifier: kept, skipped"; else
    CLASSIFIER_OUT="$MINI_ROOT/classifier"
    [[ -f "$STAGES/classifier/config.json" ]] && CLASSIFIER_OUT="$MINI_ROOT/classifier-more"
    say "classifier: $CLASSIFIER_STEPS steps"
    OMP_NUM_THREADS=$STAGE_THREADS MKL_NUM_THREADS=$STAGE_THREADS run "$MINI_ROOT/classifier.log" train classifier --data "$MANIFEST" --out "$CLASSIFIER_OUT" --resume --seed 20241201 \
        --steps "$CLASSIFIER_STEPS" --batch 64 --export "$CLASSIFIER_OUT/export"
    keep classifier "$CLASSIFIER_OUT/export"
fi

if [[ "$INSTALL" == "1" ]]; then
    TARGET="$ROOT/models/sonic-mini"
    say "install: $STAGES/bundle + classifier -> $TARGET (plots/, TRAINING.md kept)"
    find "$TARGET" -mindepth 1 -maxdepth 1 ! -name plots ! -name TRAINING.md -exec rm -rf {} +
    cp -r "$STAGES/bundle"/. "$TARGET"/ && cp -r "$STAGES/classifier" "$TARGET/classifier"
fi
say "done: bundle $STAGES/bundle ($(du -sh "$STAGES/bundle" | cut -f1))"
