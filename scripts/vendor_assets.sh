#!/usr/bin/env bash
# Refresh the browser assets the console loads, from the npm registry, at pinned versions.
# Only needed to change a version: the files are committed, so running the service needs no
# Node. Swagger UI and ReDoc come from the fastapi-offline Python package (pyproject.toml).
#   bash scripts/vendor_assets.sh
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOT=1.6.32
dest=app/static/vendor/uplot-$UPLOT
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT" >/dev/null && tar xzf "uplot-$UPLOT.tgz")
rm -rf app/static/vendor/uplot-*
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" \
   "$tmp/package/LICENSE" "$dest/"
echo "vendored uPlot $UPLOT into $dest"
