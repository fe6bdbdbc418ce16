#!/usr/bin/env bash
# Builds a set of real recordings of the world's 9 sound classes from Debian's DFSG-free game data packages:
#   scripts/real-sounds.sh OUT_DIR [LIST]
# LIST (default scripts/real-sounds.tsv) names, one clip source a line: package, path inside the package (a shell glob
# is allowed), label, start and length in seconds (empty: the whole file), licence (from the package's
# /usr/share/doc/PKG/copyright) and a note. For every package the script apt-get downloads the .deb once into
# OUT_DIR/cache/debs (the version fetched is recorded), extracts only the listed files, converts each to mono 44.1 kHz
# 16-bit WAV under OUT_DIR/audio/LABEL/ (peak-normalised to -1 dBFS), cutting a region longer than SEGMENT_S seconds
# into consecutive SEGMENT_S-second segments (a remainder shorter than MIN_TAIL_S is dropped, and so is a segment
# whose RMS level is below SILENCE_DB dBFS), and writes
# OUT_DIR/manifest.jsonl (audio, label, split and the extra columns group, segment, start_s, duration_s, source_package,
# package_version, package_path, licence, copyright_file, recipe="real", note; no image or caption).
# Split: per label, the source files (groups) are ordered by sha1(package:path) and the first round(n/4) go to "val",
# the rest to "train"; all segments of one file share its group and split.
# Idempotent and resumable: downloads, extractions and WAVs that exist are kept; WAVs no longer listed are removed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: scripts/real-sounds.sh OUT_DIR [LIST]}"
LIST="${2:-$ROOT/scripts/real-sounds.tsv}"
SEGMENT_S="${SEGMENT_S:-10}"
MIN_TAIL_S="${MIN_TAIL_S:-3}"
SILENCE_DB="${SILENCE_DB:--60}"
LABELS="wind_noise squishing_water splashing_water fire_crackling raining underwater_bubbling thunder waterfall_burbling explosion"
# Reserved for an independent test set: never used here, in any version.
RESERVED='^(wesnoth|scorched3d|megaglest|lincity-ng|lincity|hedgewars)'

US=$'\x1f'  # internal field separator: unlike a tab it is not whitespace, so empty fields survive `read`
die() { echo "real-sounds: $*" >&2; exit 1; }
[ -f "$LIST" ] || die "$LIST: list not found"

# ---- read and check the list ----
entries=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  [[ -z "${line//[[:space:]]/}" || "$line" == \#* ]] && continue
  IFS=$US read -r pkg path label start length licence note <<<"${line//$'\t'/$US}"
  where="$LIST:$lineno"
  [ -n "$pkg" ] && [ -n "$path" ] && [ -n "$label" ] || die "$where: expected package<TAB>path<TAB>label<TAB>start<TAB>length<TAB>licence<TAB>note"
  [[ "$pkg" =~ $RESERVED ]] && die "$where: package '$pkg' is reserved for the independent test set and must not be used"
  [[ " $LABELS " == *" $label "* ]] || die "$where: label '$label' is not one of: $LABELS"
  [[ -z "$start" || "$start" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$where: start '$start' is not a number of seconds"
  [[ -z "$length" || "$length" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$where: length '$length' is not a number of seconds"
  [ -n "$licence" ] || die "$where: licence is empty (read /usr/share/doc/$pkg/copyright)"
  entries+=("$pkg$US${path#/}$US$label$US${start:-0}$US$length$US$licence$US$note")
done <"$LIST"
[ "${#entries[@]}" -gt 0 ] || die "$LIST: no entries"
packages=$(printf '%s\n' "${entries[@]}" | cut -d"$US" -f1 | sort -u)

need_tool() {  # need_tool COMMAND DEBIAN-PACKAGE...
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "$cmd is missing and apt-get is not available to install it ($*)"
  echo "installing $* (for $cmd)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null 2>&1 \
    || die "could not install $* (needed for $cmd)"
}
need_tool sox sox libsox-fmt-base
need_tool jq jq
need_tool dpkg-deb dpkg
sox_reads_ogg() { [[ "$(sox -h 2>/dev/null || true)" =~ [[:space:]]vorbis[[:space:]] ]]; }
if ! sox_reads_ogg; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsox-fmt-base; } >/dev/null 2>&1 || true
  sox_reads_ogg || die "sox cannot read Ogg Vorbis: install libsox-fmt-base"
fi

OUT="$(mkdir -p "$OUT" && cd "$OUT" && pwd)"
DEBS="$OUT/cache/debs"
ROOTS="$OUT/cache/root"
mkdir -p "$DEBS" "$ROOTS" "$OUT/audio" "$OUT/licences"

# ---- download and extract ----
has_candidate() {  # (the policy is read whole: grep -q on a pipe would SIGPIPE apt-cache and fail under pipefail)
  local policy
  policy=$(apt-cache policy "$1" 2>/dev/null || true)
  [[ "$policy" =~ Candidate:\ [^\(] ]]
}
updated=0
declare -A VERSION
for pkg in $packages; do
  deb=$(ls "$DEBS/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    if [ "$updated" = 0 ] && ! has_candidate "$pkg"; then
      echo "apt-get update"; apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"; updated=1
    fi
    has_candidate "$pkg" || die "package '$pkg' is not available from the configured Debian sources"
    echo "downloading $pkg"
    (cd "$DEBS" && apt-get download -q "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
    deb=$(ls "$DEBS/${pkg}_"*.deb | head -n1)
  fi
  section=$(dpkg-deb -f "$deb" Section)
  [[ "$section" == */* ]] && die "$deb: section '$section' is not Debian main (DFSG-free)"
  VERSION[$pkg]=$(dpkg-deb -f "$deb" Version)
  root="$ROOTS/$pkg"
  stamp="$root/.extracted-${VERSION[$pkg]//[^A-Za-z0-9.+~-]/_}"
  want=$(printf '%s\n' "${entries[@]}" | awk -F"$US" -v p="$pkg" '$1 == p { print "./" $2 }' | sort -u)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "extracting $pkg ${VERSION[$pkg]}"
    rm -rf "$root"; mkdir -p "$root"
    mapfile -t patterns <<<"$want"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" --wildcards "${patterns[@]}" "./usr/share/doc/$pkg/copyright" \
      || die "$deb: could not extract the listed paths (a path in $LIST does not exist in ${pkg} ${VERSION[$pkg]}?)"
    printf '%s' "$want" >"$stamp"
  fi
  cp -f "$root/usr/share/doc/$pkg/copyright" "$OUT/licences/$pkg.copyright"
done

# ---- convert and segment ----
rows="$OUT/.rows.tsv"
: >"$rows"
declare -A KEEP SEEN
for entry in "${entries[@]}"; do
  IFS=$US read -r pkg path label start length licence note <<<"$entry"
  root="$ROOTS/$pkg"
  mapfile -t files < <(cd "$root" && compgen -G "$path" | sort || true)
  [ "${#files[@]}" -gt 0 ] && [ -n "${files[0]}" ] || die "$LIST: '$path' matches no file in $pkg ${VERSION[$pkg]}"
  for file in "${files[@]}"; do
    src="$root/$file"
    sum="$(md5sum <"$src" | cut -c1-32) $start $length"
    [ -z "${SEEN[$sum]:-}" ] || die "$pkg:/$file (from $start s) is byte-identical to ${SEEN[$sum]}; list only one of them"
    SEEN[$sum]="$pkg:/$file"
    total=$(soxi -D "$src" 2>/dev/null) || die "$pkg:/$file: sox cannot read it"
    region=$(awk -v t="$total" -v s="$start" -v l="$length" 'BEGIN { r = (l == "" ? t - s : l); if (s + r > t) r = t - s; printf "%.3f", r }')
    awk -v r="$region" 'BEGIN { exit !(r > 0.05) }' || die "$pkg:/$file: start $start is past its end ($total s)"
    group="$pkg:/$file"
    hash=$(printf '%s' "$group" | sha1sum | cut -c1-12)
    base=$(basename "$file"); base="${base%.*}"; base="${base//[^A-Za-z0-9_.-]/_}"
    # The cut is part of the name, so a changed start/length/segmenting makes new files instead of reusing stale ones.
    cut=$(printf '%s|%s|%s|%s|%s' "$group" "$start" "$length" "$SEGMENT_S" "$MIN_TAIL_S" | sha1sum | cut -c1-8)
    multi=$(awk -v r="$region" -v seg="$SEGMENT_S" 'BEGIN { print (r > seg + 1e-9) ? 1 : 0 }')
    awk -v r="$region" -v seg="$SEGMENT_S" -v tail="$MIN_TAIL_S" -v s="$start" 'BEGIN {
        n = int(r / seg + 1e-9); rest = r - n * seg
        for (k = 0; k < n; k++) printf "%d %.3f %.3f\n", k, s + k * seg, seg
        if (rest >= tail || n == 0) printf "%d %.3f %.3f\n", n, s + n * seg, rest }' |
    while read -r k at dur; do
      name="${pkg}__${base}-$cut"
      [ "$multi" = 1 ] && name="${name}_s$(printf %02d "$k")"
      rel="audio/$label/$name.wav"
      rms=$(sox -V1 "$src" -n trim "$at" "$dur" channels 1 stats 2>&1 | awk '/^RMS lev dB/ { print $4 }')
      if [ "$rms" = "-inf" ] || awk -v r="$rms" -v min="$SILENCE_DB" 'BEGIN { exit !(r < min) }'; then
        echo "skipping $pkg:/$file from $at s: RMS $rms dBFS is below $SILENCE_DB (silence)"
        continue
      fi
      if [ ! -s "$OUT/$rel" ]; then
        mkdir -p "$OUT/audio/$label"
        sox -R -V1 "$src" -b 16 -e signed-integer "$OUT/$rel.tmp.wav" trim "$at" "$dur" channels 1 rate -v 44100 gain -n -1 \
          || die "$pkg:/$file: sox failed to convert it"
        mv -f "$OUT/$rel.tmp.wav" "$OUT/$rel"
      fi
      printf "%s$US%s$US%s$US%s$US%s$US%s$US%s$US%s$US%s$US%s$US%s\n" "$label" "$hash" "$group" "$k" "$at" "$dur" "$pkg" "/$file" "$rel" "$licence" "$note" >>"$rows"
    done
  done
done
while IFS=$US read -r _ _ group _ _ _ _ _ rel _; do
  [ -z "${KEEP[$rel]:-}" ] || die "$group and ${KEEP[$rel]} would both be written to $rel"
  KEEP[$rel]=$group
done <"$rows"
while IFS= read -r -d '' wav; do
  rel="${wav#"$OUT"/}"
  [ -n "${KEEP[$rel]:-}" ] || { echo "removing $rel (no longer listed)"; rm -f "$wav"; }
done < <(find "$OUT/audio" -name '*.wav' -print0)

# ---- split and manifest ----
declare -A SPLIT
for label in $LABELS; do
  mapfile -t groups < <(awk -F"$US" -v l="$label" '$1 == l { print $2 }' "$rows" | sort -u)
  n=${#groups[@]}
  nval=$(( (n + 2) / 4 ))
  for i in "${!groups[@]}"; do SPLIT[${groups[$i]}]=$([ "$i" -lt "$nval" ] && echo val || echo train); done
done
tmp="$OUT/manifest.jsonl.tmp"
: >"$tmp"
sort -t"$US" -k1,1 -k3,3 -k4,4n "$rows" | while IFS=$US read -r label hash group k at dur pkg ppath rel licence note; do
  jq -nc --arg audio "$rel" --arg lab "$label" --arg split "${SPLIT[$hash]}" --arg group "$hash" --argjson segment "$k" \
    --argjson start "$at" --argjson dur "$dur" --arg pkg "$pkg" --arg ver "${VERSION[$pkg]}" --arg ppath "$ppath" \
    --arg licence "$licence" --arg copyright "licences/$pkg.copyright" --arg note "$note" \
    '{audio: $audio, label: $lab, split: $split, group: $group, segment: $segment, start_s: $start, duration_s: $dur,
      source_package: $pkg, package_version: $ver, package_path: $ppath, licence: $licence, copyright_file: $copyright,
      recipe: "real", note: $note}' >>"$tmp"
done
mv -f "$tmp" "$OUT/manifest.jsonl"
rm -f "$rows"

for pkg in $packages; do
  deb=$(ls "$DEBS/${pkg}_"*.deb | head -n1)
  [ "$deb.sha256" -nt "$deb" ] || sha256sum "$deb" | cut -c1-64 >"$deb.sha256"
  printf '%s\t%s\t%s\t%s\n' "$pkg" "${VERSION[$pkg]}" "$(stat -c %s "$deb")" "$(cat "$deb.sha256")"
done >"$OUT/packages.tsv"

echo "label                  train  val  groups  seconds"
for label in $LABELS; do
  jq -r --arg l "$label" 'select(.label == $l) | [.split, .group, .duration_s] | @tsv' "$OUT/manifest.jsonl" |
    awk -v l="$label" '{ c[$1]++; g[$2] = 1; s += $3 } END { printf "%-22s %5d %4d %7d %8.0f\n", l, c["train"], c["val"], length(g), s }'
done
echo "$(wc -l <"$OUT/manifest.jsonl") clips in $OUT/manifest.jsonl; audio $(du -sh "$OUT/audio" | cut -f1), downloads $(du -sh "$DEBS" | cut -f1)"
