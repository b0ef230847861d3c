#!/bin/sh
# Reduces the DejaVu fonts to the repertoire letters need, with fontTools
# (`pip install fonttools`). Run from anywhere; writes *-letters.ttf next to the
# full fonts, which stay as the fallback for any character outside it.
#
# Repertoire: Basic Latin, Latin-1 Supplement, Latin Extended-A and -B (Nordic
# and Sámi letters: á č đ ŋ š ŧ ž ï ö …), combining diacritical marks, Latin
# Extended Additional, General Punctuation (– — ‘ ’ “ ” • …), € and №.
# Hinting and OpenType layout tables are dropped: dokflyt positions glyphs
# itself (src/render/layout.rs), one glyph per character, without shaping.
set -eu
cd "$(dirname "$0")"
UNICODES="U+0020-007E,U+00A0-024F,U+0300-036F,U+1E00-1EFF,U+2000-206F,U+20AC,U+2116"
for face in DejaVuSans DejaVuSans-Bold; do
  pyftsubset "$face.ttf" \
    --unicodes="$UNICODES" \
    --output-file="$face-letters.ttf" \
    --layout-features= \
    --no-hinting \
    --notdef-outline \
    --name-IDs='*' \
    --name-languages='*' \
    --legacy-kern=false \
    --drop-tables+=DSIG,kern,GPOS,GSUB,GDEF,MATH
done
ls -l ./*-letters.ttf
