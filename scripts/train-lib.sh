# Shared helpers of the training scripts (sourced; needs ROOT, MINI_ROOT and LOG_FILE set).
# say MSG: a timestamped line to the terminal and LOG_FILE.
# run LOG ARGS...: runs sonic in the background (so signals reach the trap), appending its output to LOG. A trainer
# that fails is resumed from its last checkpoint (--resume) up to RETRIES more times before the script gives up: a long
# CPU run should not end on one rare native error. Exit 1 is sonic's "bad input" (a one-line error about a file, option
# or saved config, e.g. a resume with other settings): retrying cannot help, so the script stops at once.
# parallel F G: runs the shell functions F and G side by side (each a child with its own trap) and fails if either does.
# build: dotnet build -c Release of the CLI, copied to $MINI_ROOT/bin and run from there (a rebuild while a trainer
# runs would otherwise overwrite the assemblies under it).
SONIC="$MINI_ROOT/bin/sonic"
RETRIES="${RETRIES:-3}"

say() { echo "[$(date '+%F %T')] $*" | tee -a "$LOG_FILE"; }

child=""
branches=()
stop() {
    say "signal received; stopping ${child:+pid $child }${branches[*]:+branches ${branches[*]} }(the trainer checkpoints first)"
    for p in $child "${branches[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    exit 143
}
trap stop TERM INT

run() {
    local log="$1"; shift
    local attempt=0
    while true; do
        echo "[$(date '+%F %T')] sonic $*" >> "$log"
        "$SONIC" "$@" >> "$log" 2>&1 &
        child=$!
        local rc=0
        wait "$child" || rc=$?
        child=""
        [[ $rc -eq 0 ]] && return 0
        if [[ $rc -ne 1 && " $* " == *" --resume "* && $attempt -lt $RETRIES ]]; then
            attempt=$((attempt + 1))
            say "failed (exit $rc): sonic $* — resuming from the last checkpoint (retry $attempt of $RETRIES)"
            sleep 10
            continue
        fi
        say "FAILED (exit $rc): sonic $* — see $log"; exit "$rc"
    done
}

parallel() {
    ( trap 'kill -TERM $child 2>/dev/null; wait; exit 143' TERM; child=""; "$1" ) &
    branches=($!)
    ( trap 'kill -TERM $child 2>/dev/null; wait; exit 143' TERM; child=""; "$2" ) &
    branches+=($!)
    local failed=0 b
    for b in "${branches[@]}"; do wait "$b" || failed=$?; done
    branches=()
    (( failed == 0 )) || { say "$1/$2 failed (exit $failed)"; exit "$failed"; }
}

build() {
    say "building (dotnet build -c Release)"
    dotnet build -c Release "$ROOT/src/SonicDiffusion.Cli/SonicDiffusion.Cli.csproj" >> "$MINI_ROOT/build.log" 2>&1 \
        || { say "build failed — see $MINI_ROOT/build.log"; exit 1; }
    rm -rf "$MINI_ROOT/bin.tmp" && cp -r "$ROOT/src/SonicDiffusion.Cli/bin/Release/net10.0/linux-x64" "$MINI_ROOT/bin.tmp" \
        && rm -rf "$MINI_ROOT/bin" && mv "$MINI_ROOT/bin.tmp" "$MINI_ROOT/bin"
}
