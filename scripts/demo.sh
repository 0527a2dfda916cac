#!/usr/bin/env bash
# The main job on real sample footage: probe the samples, then transcode the
# CCTV-like sample (vtest.avi, a fixed overhead camera) to H.264/MP4 and
# check the result keeps every frame; mask camera 7's private windows; index
# its motion incidents with wall-clock times and print a monthly report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OBSCURA_HOME="${OBSCURA_HOME:-$HOME/.cache/obscura}"
cargo build --release --locked -p obscura-cli
bin=target/release/obscura
samples="$OBSCURA_HOME/samples"
out=demo-out
mkdir -p "$out"

echo "== probe"
"$bin" probe "$samples"/*.mp4 "$samples/vtest.avi"
echo "== transcode (segment-parallel decode, x264, audio copied)"
"$bin" transcode "$samples/vtest.avi" -o "$out/vtest.mp4"
"$bin" transcode "$samples/bigbuckbunny.mp4" -o "$out/bigbuckbunny.mp4"
echo "== redact: privacy masks of camera 7 (examples/cameras/vtest.toml), with a record"
"$bin" redact "$samples/vtest.avi" -o "$out/cam7-masked.mp4" \
  --camera examples/cameras/vtest.toml --no-detect --operator "Demo Operator" \
  --reason "Code of Practice privacy masks" --case DEMO-1
echo "== subject access request: list tracks, redact every face and plate, verify"
"$bin" tracks "$samples/carphone_pristine.mp4" --sheet "$out/carphone.tracks.png"
"$bin" redact "$samples/carphone_pristine.mp4" -o "$out/carphone-sar.mp4" \
  --operator "Demo Officer" --reason "SAR disclosure" --case SAR-DEMO-1
"$bin" verify-redaction "$out/carphone-sar.mp4"
echo "== index: motion incidents of camera 7 into an SQLite index, then list and report"
# The profile names recordings cam07_YYYYMMDD_HHMMSS.avi: the copy's name
# gives its wall-clock start.
cp "$samples/vtest.avi" "$out/cam07_20261103_081500.avi"
rm -f "$out/index.db" "$out/index.db-wal" "$out/index.db-shm"
"$bin" index "$out/cam07_20261103_081500.avi" --camera examples/cameras/vtest.toml --db "$out/index.db"
"$bin" incidents --db "$out/index.db" --camera 7 --thumbnails "$out/thumbnails"
"$bin" report --db "$out/index.db" --month 2026-11 --by town --compare previous
echo "== evidence: export camera 7 08:15:30-08:15:40 as exhibit DEMO/1, verify, audit"
rm -rf "$out/exhibits" "$out/demo.key" "$out/demo.key.pub"
"$bin" audit keygen --out "$out/demo.key"
"$bin" export --db "$out/index.db" --camera 7 --from "2026-11-03 08:15:30" --to "2026-11-03 08:15:40" \
  --exhibit DEMO/1 --operator "Demo Operator" --reason "demonstration" -o "$out/exhibits" \
  --working-copy --key "$out/demo.key"
"$bin" verify "$out/exhibits/DEMO_1.manifest.json" --public-key "$out/demo.key.pub"
"$bin" retention --db "$out/index.db" --days 28 --dry-run
"$bin" audit verify --db "$out/index.db" --public-key "$out/demo.key.pub"
echo "== check"
"$bin" probe "$out/vtest.mp4" "$out/bigbuckbunny.mp4" "$out/cam7-masked.mp4"
echo "record: $out/cam7-masked.mp4.redaction.json"
echo "outputs in $out/"
