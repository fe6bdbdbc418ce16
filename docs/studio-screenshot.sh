#!/usr/bin/env bash
# Retakes docs/studio.png: the browser test keeps a screenshot of the page after its generation and edit, then Debian's
# python3 (PIL) shrinks it to 3/4 size and 256 colours. Needs /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
shot=$(mktemp --suffix=.png)
SONIC_STUDIO_SCREENSHOT="$shot" dotnet test tests/SonicDiffusion.Tests --filter "FullyQualifiedName~StudioBrowserTests"
/usr/bin/python3 - "$shot" docs/studio.png <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
im.quantize(colors=256, method=Image.FASTOCTREE, dither=Image.NONE).save(sys.argv[2], optimize=True)
PY
rm -f "$shot" "$shot.phone.png"
echo "wrote docs/studio.png"
