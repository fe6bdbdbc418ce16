#!/usr/bin/env bash
# Trains the sonic-mini bundle end to end with our own code, resumably:
#   synth (10 000 samples) -> train vae -> train base (UNet + text encoder) -> train clap (audio encoder)
#   -> train stage1 (audio projector) -> train stage2 (gated audio cross-attention + projector) -> bundle
#   [-> round 2 when BASE2_STEPS > 0: the base run continued to BASE2_STEPS (exported to base2/model), then stage 2
#       fine-tuned on it for STAGE2_FT_STEPS from the round-1 adapters and projector (--init-adapters) -> bundle]
#   [-> round 3 when STUDENT_STEPS > 0: a smaller UNet (STUDENT_CONFIG) distilled from round 2's (--teacher: its text
#       encoder kept frozen, so CLAP and the projector stay valid), then stage 2 on it from round 2's adapters at the
#       sites it still has -> bundle].
# The finished bundle is $MINI_ROOT/stage2/export/bundle (round 2: $MINI_ROOT/stage2-ft/export/bundle, round 3:
# $MINI_ROOT/student-stage2/export/bundle); INSTALL=1 copies it to models/sonic-mini (keeping classifier/, plots/, TRAINING.md).
# A stage is skipped when its export folder exists; otherwise it continues from its run folder's last checkpoint
# (--resume), so the script can be killed at any moment and started again. Run it in the background:
#   nohup scripts/train-mini.sh > /dev/null 2>&1 &
# Progress goes to $MINI_ROOT/<stage>.log (one line per ~2 s), metrics to $MINI_ROOT/<stage>/metrics.jsonl, loss curves
# to $MINI_ROOT/<stage>/loss.png, previews to $MINI_ROOT/vae/recon.png and $MINI_ROOT/base/samples.png.
# SIGTERM / Ctrl+C stop the running trainer after its current step, with a checkpoint.
# Every setting can be overridden from the environment (e.g. BASE_STEPS=4000 scripts/train-mini.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINI_ROOT="${MINI_ROOT:-$ROOT/runs/mini}"
MINI_COUNT="${MINI_COUNT:-10000}"
MINI_SEED="${MINI_SEED:-20240501}"
SEED="${SEED:-0}"

VAE_STEPS="${VAE_STEPS:-1500}"
VAE_BATCH="${VAE_BATCH:-16}"
VAE_LR="${VAE_LR:-4e-4}"
BASE_STEPS="${BASE_STEPS:-1400}"
BASE_BATCH="${BASE_BATCH:-32}"
BASE_LR="${BASE_LR:-5e-4}"
BASE_WARMUP="${BASE_WARMUP:-150}"
BASE_EMA="${BASE_EMA:-0.995}"
CLAP_STEPS="${CLAP_STEPS:-900}"
CLAP_BATCH="${CLAP_BATCH:-64}"
CLAP_LR="${CLAP_LR:-1e-3}"
CLAP_TEXT_STEP="${CLAP_TEXT_STEP:-250}"
STAGE1_STEPS="${STAGE1_STEPS:-500}"
STAGE1_BATCH="${STAGE1_BATCH:-32}"
STAGE1_LR="${STAGE1_LR:-3e-4}"
STAGE2_STEPS="${STAGE2_STEPS:-7000}"
STAGE2_BATCH="${STAGE2_BATCH:-16}"
STAGE2_LR="${STAGE2_LR:-3e-4}"
# Round 2 (0 = none): more base-model steps in the same run (its cosine schedule stretched to BASE2_STEPS), then a
# stage-2 fine-tune on the new base starting from the round-1 adapters and projector.
BASE2_STEPS="${BASE2_STEPS:-3600}"
STAGE2_FT_STEPS="${STAGE2_FT_STEPS:-3000}"
STAGE2_FT_LR="${STAGE2_FT_LR:-2e-4}"
# Round 3 (0 = none; measured with STUDENT_STEPS=2500 STAGE2_STUDENT_STEPS=4000, not installed — see TRAINING.md): a
# faster UNet (block_out_channels [32, 128, 128], no attention at 16×16) distilled from round 2's base model, then stage 2.
STUDENT_STEPS="${STUDENT_STEPS:-0}"
STUDENT_CONFIG="${STUDENT_CONFIG:-$ROOT/scripts/mini-student.json}"
STUDENT_LR="${STUDENT_LR:-5e-4}"
STUDENT_WARMUP="${STUDENT_WARMUP:-100}"
STAGE2_STUDENT_STEPS="${STAGE2_STUDENT_STEPS:-4000}"
STAGE2_STUDENT_LR="${STAGE2_STUDENT_LR:-2e-4}"
# Adapter attention initialised from each block's text cross-attention and gates at 0.1 (the diffusers port's value):
# from γ = 0 and random attention the first 800-step pass left the gates nearly closed (mean |tanh γ| 0.035, AIC 0.38).
STAGE2_INIT="${STAGE2_INIT:---init-from-text-attn --gate-init 0.1}"
INSTALL="${INSTALL:-0}"
CHECKPOINT_MINUTES="${CHECKPOINT_MINUTES:-10}"
# One compute thread by default: on a 2-core machine shared with anything else, libtorch's OpenMP barriers make a
# 2-thread step 5-7x slower (measured: VAE batch 16, 11-16 s/step with 2 threads vs 2.3 s with 1 while other jobs ran).
# Use TRAIN_THREADS=2 on an otherwise idle machine.
TRAIN_THREADS="${TRAIN_THREADS:-1}"
export OMP_NUM_THREADS="$TRAIN_THREADS" MKL_NUM_THREADS="$TRAIN_THREADS"
EXTRA_ARGS="${EXTRA_ARGS:-}"

WORLD="$MINI_ROOT/world"
mkdir -p "$MINI_ROOT"
LOG_FILE="$MINI_ROOT/train-mini.log"
# shellcheck source=scripts/train-lib.sh
source "$ROOT/scripts/train-lib.sh"
build

# 1. The world.
if [[ -f "$WORLD/world.json" && -f "$WORLD/manifest.jsonl" ]] && grep -q "\"count\": $MINI_COUNT," "$WORLD/world.json" \
    && grep -q "\"seed\": $MINI_SEED," "$WORLD/world.json"; then
    say "synth: $WORLD exists ($MINI_COUNT samples, seed $MINI_SEED), skipped"
else
    say "synth: $MINI_COUNT samples, seed $MINI_SEED -> $WORLD"
    # An interrupted generation leaves files without world.json, which synth refuses to overwrite: start it over.
    if [[ -d "$WORLD" && ! -f "$WORLD/world.json" ]]; then rm -rf "$WORLD"; fi
    run "$MINI_ROOT/synth.log" data synth --world 1 --out "$WORLD" --count "$MINI_COUNT" --seed "$MINI_SEED"
fi
MANIFEST="$WORLD/manifest.jsonl"

# 2. VAE.
VAE_EXPORT="$MINI_ROOT/vae/vae"
# A finished VAE is committed with the repository (models/sonic-mini/vae): a fresh machine continues from it.
COMMITTED_VAE="$ROOT/models/sonic-mini/vae"
if [[ ! -f "$VAE_EXPORT/config.json" && -f "$COMMITTED_VAE/config.json" && ! -d "$MINI_ROOT/vae/checkpoints" ]]; then
    say "vae: using the committed $COMMITTED_VAE"
    mkdir -p "$VAE_EXPORT" && cp -r "$COMMITTED_VAE"/. "$VAE_EXPORT"/
fi
if [[ -f "$VAE_EXPORT/config.json" ]]; then
    say "vae: $VAE_EXPORT exists, skipped"
else
    say "vae: $VAE_STEPS steps, batch $VAE_BATCH"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/vae.log" train vae --data "$MANIFEST" --out "$MINI_ROOT/vae" --resume --seed "$SEED" \
        --steps "$VAE_STEPS" --batch "$VAE_BATCH" --lr "$VAE_LR" --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
fi

# 3 + 4. Text-to-image base model (UNet + CLIP text encoder, on cached latents of the VAE above) and, on the other core
# at the same time, the CLAP-style audio encoder. CLAP learns against a FROZEN text encoder's pooled caption embeddings;
# it takes the text encoder of the base run's first checkpoint at or after step CLAP_TEXT_STEP (0 = wait for the finished
# base model and run after it, one stage at a time). Stage 1 later maps the audio embedding onto the final text encoder's
# tokens, so the CLAP target only has to tell captions apart, which the early text encoder already does.
BASE_EXPORT="$MINI_ROOT/base/model"
CLAP_EXPORT="$MINI_ROOT/clap/audio_encoder"

base_stage() {
    if [[ -f "$BASE_EXPORT/model_index.json" ]]; then
        say "base: $BASE_EXPORT exists, skipped"
        return 0
    fi
    say "base: $BASE_STEPS steps, batch $BASE_BATCH, lr $BASE_LR, warm-up $BASE_WARMUP, EMA $BASE_EMA"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/base.log" train base --data "$MANIFEST" --vae "$VAE_EXPORT" --out "$MINI_ROOT/base" --resume --seed "$SEED" \
        --steps "$BASE_STEPS" --batch "$BASE_BATCH" --lr "$BASE_LR" --warmup "$BASE_WARMUP" --ema "$BASE_EMA" --threads 1 \
        --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
}

# early_text_encoder STEP: exports the text encoder of the base run's first checkpoint at or after STEP (waiting for it)
# into $MINI_ROOT/clap-text/model, by resuming a copy of that checkpoint with --steps equal to its step (no training).
early_text_encoder() {
    local want="$1" dir="$MINI_ROOT/clap-text" ckpt="" step
    if [[ -f "$dir/model/text_encoder/config.json" ]]; then return 0; fi
    say "clap: waiting for a base checkpoint at step >= $want"
    while [[ -z "$ckpt" ]]; do
        for c in "$MINI_ROOT"/base/checkpoints/step-*; do
            [[ -f "$c/state.json" ]] || continue
            step=$((10#${c##*step-}))
            if (( step >= want )); then ckpt="$c"; break; fi
        done
        if [[ -z "$ckpt" ]]; then
            if [[ -f "$BASE_EXPORT/model_index.json" ]]; then ckpt="$(ls -d "$MINI_ROOT"/base/checkpoints/step-* | tail -n 1)"; break; fi
            sleep 30
        fi
    done
    step=$((10#${ckpt##*step-}))
    say "clap: text encoder of base checkpoint step $step"
    rm -rf "$dir" && mkdir -p "$dir/checkpoints"
    cp "$MINI_ROOT/base/config.json" "$dir/" && cp -r "$ckpt" "$dir/checkpoints/"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/clap.log" train base --data "$MANIFEST" --vae "$VAE_EXPORT" --out "$dir" --resume --seed "$SEED" \
        --steps "$step" --batch "$BASE_BATCH" --lr "$BASE_LR" --warmup "$BASE_WARMUP" --ema "$BASE_EMA" --preview 0 --threads 1 $EXTRA_ARGS
}

clap_stage() {
    if [[ -f "$CLAP_EXPORT/config.json" ]]; then
        say "clap: $CLAP_EXPORT exists, skipped"
        return 0
    fi
    local text="$BASE_EXPORT"
    if (( CLAP_TEXT_STEP > 0 )); then
        early_text_encoder "$CLAP_TEXT_STEP"
        text="$MINI_ROOT/clap-text/model"
    fi
    say "clap: $CLAP_STEPS steps, batch $CLAP_BATCH, text encoder $text"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/clap.log" train clap --data "$MANIFEST" --text-encoder "$text" --out "$MINI_ROOT/clap" --resume --seed "$SEED" \
        --steps "$CLAP_STEPS" --batch "$CLAP_BATCH" --lr "$CLAP_LR" --threads 1 --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
}

if (( CLAP_TEXT_STEP > 0 )); then
    parallel base_stage clap_stage
else
    base_stage
    clap_stage
fi

# 5. Stage 1: the audio projector, against the frozen text encoder and audio encoder above.
STAGE1_EXPORT="$MINI_ROOT/stage1/export/audio_projector"
if [[ -f "$STAGE1_EXPORT/config.json" ]]; then
    say "stage1: $STAGE1_EXPORT exists, skipped"
else
    say "stage1: $STAGE1_STEPS steps, batch $STAGE1_BATCH"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/stage1.log" train stage1 --data "$MANIFEST" --model "$BASE_EXPORT" --audio-encoder "$CLAP_EXPORT" \
        --out "$MINI_ROOT/stage1" --resume --seed "$SEED" --steps "$STAGE1_STEPS" --batch "$STAGE1_BATCH" --lr "$STAGE1_LR" \
        --name sonic-mini --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
fi

# 6. Stage 2: gated audio cross-attention (mid + up blocks) and the projector; base model and audio encoder frozen.
BUNDLE="$MINI_ROOT/stage2/export/bundle"
if [[ -f "$BUNDLE/adapters/config.json" ]]; then
    say "stage2: $BUNDLE exists, skipped"
else
    say "stage2: $STAGE2_STEPS steps, batch $STAGE2_BATCH"
    # shellcheck disable=SC2086
    run "$MINI_ROOT/stage2.log" train stage2 --data "$MANIFEST" --model "$BASE_EXPORT" --audio-encoder "$CLAP_EXPORT" \
        --projector "$STAGE1_EXPORT" --out "$MINI_ROOT/stage2" --resume --seed "$SEED" --steps "$STAGE2_STEPS" \
        --batch "$STAGE2_BATCH" --lr "$STAGE2_LR" --name sonic-mini --checkpoint-minutes "$CHECKPOINT_MINUTES" $STAGE2_INIT $EXTRA_ARGS
fi

# 7. Round 2: the base model trained further (same run, new export folder), then stage 2 fine-tuned on it.
if (( BASE2_STEPS > 0 )); then
    BASE2_EXPORT="$MINI_ROOT/base2/model"
    if [[ -f "$BASE2_EXPORT/model_index.json" ]]; then
        say "base2: $BASE2_EXPORT exists, skipped"
    else
        say "base2: the base run continued to $BASE2_STEPS steps"
        # shellcheck disable=SC2086
        run "$MINI_ROOT/base.log" train base --data "$MANIFEST" --vae "$VAE_EXPORT" --out "$MINI_ROOT/base" --export "$BASE2_EXPORT" \
            --resume --seed "$SEED" --steps "$BASE2_STEPS" --batch "$BASE_BATCH" --lr "$BASE_LR" --warmup "$BASE_WARMUP" --ema "$BASE_EMA" \
            --threads 1 --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    fi
    ROUND1="$BUNDLE"
    BUNDLE="$MINI_ROOT/stage2-ft/export/bundle"
    if [[ -f "$BUNDLE/adapters/config.json" ]]; then
        say "stage2-ft: $BUNDLE exists, skipped"
    else
        say "stage2-ft: $STAGE2_FT_STEPS steps from $ROUND1 on $BASE2_EXPORT"
        # shellcheck disable=SC2086
        run "$MINI_ROOT/stage2-ft.log" train stage2 --data "$MANIFEST" --model "$BASE2_EXPORT" --audio-encoder "$CLAP_EXPORT" \
            --projector "$ROUND1/audio_projector" --init-adapters "$ROUND1" --out "$MINI_ROOT/stage2-ft" --resume --seed "$SEED" \
            --steps "$STAGE2_FT_STEPS" --batch "$STAGE2_BATCH" --lr "$STAGE2_FT_LR" --name sonic-mini --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    fi
fi

# 8. Round 3: the student UNet distilled from round 2's base model, then stage 2 on it.
if (( BASE2_STEPS > 0 && STUDENT_STEPS > 0 )); then
    STUDENT_EXPORT="$MINI_ROOT/student/model"
    if [[ -f "$STUDENT_EXPORT/model_index.json" ]]; then
        say "student: $STUDENT_EXPORT exists, skipped"
    else
        say "student: $STUDENT_STEPS steps distilled from $BASE2_EXPORT ($STUDENT_CONFIG)"
        # shellcheck disable=SC2086
        run "$MINI_ROOT/student.log" train base --data "$MANIFEST" --vae "$VAE_EXPORT" --out "$MINI_ROOT/student" --teacher "$BASE2_EXPORT" \
            --config "$STUDENT_CONFIG" --resume --seed "$SEED" --steps "$STUDENT_STEPS" --batch "$BASE_BATCH" --lr "$STUDENT_LR" \
            --warmup "$STUDENT_WARMUP" --ema "$BASE_EMA" --threads 1 --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    fi
    ROUND2="$BUNDLE"
    BUNDLE="$MINI_ROOT/student-stage2/export/bundle"
    if [[ -f "$BUNDLE/adapters/config.json" ]]; then
        say "student-stage2: $BUNDLE exists, skipped"
    else
        say "student-stage2: $STAGE2_STUDENT_STEPS steps from $ROUND2 on $STUDENT_EXPORT"
        # shellcheck disable=SC2086
        run "$MINI_ROOT/student-stage2.log" train stage2 --data "$MANIFEST" --model "$STUDENT_EXPORT" --audio-encoder "$CLAP_EXPORT" \
            --projector "$ROUND2/audio_projector" --init-adapters "$ROUND2" --out "$MINI_ROOT/student-stage2" --resume --seed "$SEED" \
            --steps "$STAGE2_STUDENT_STEPS" --batch "$STAGE2_BATCH" --lr "$STAGE2_STUDENT_LR" --name sonic-mini \
            --checkpoint-minutes "$CHECKPOINT_MINUTES" $EXTRA_ARGS
    fi
fi

if [[ "$INSTALL" == "1" ]]; then
    TARGET="$ROOT/models/sonic-mini"
    say "install: $BUNDLE -> $TARGET (classifier/, plots/, TRAINING.md kept)"
    mkdir -p "$TARGET"
    find "$TARGET" -mindepth 1 -maxdepth 1 ! -name classifier ! -name plots ! -name TRAINING.md -exec rm -rf {} +
    cp -r "$BUNDLE"/. "$TARGET"/
fi

say "done: vae $VAE_EXPORT ($(du -sh "$VAE_EXPORT" | cut -f1)), model $BASE_EXPORT ($(du -sh "$BASE_EXPORT" | cut -f1)), audio encoder $CLAP_EXPORT ($(du -sh "$CLAP_EXPORT" | cut -f1)), bundle $BUNDLE ($(du -sh "$BUNDLE" | cut -f1))"
