#!/usr/bin/env bash
# The web portal's map libraries, from npm at set-up time (the portal never loads a CDN):
#   scripts/build-portal-assets.sh
# runs `npm ci` in portal-assets/ (versions pinned by its package-lock.json) and copies only the
# files the pages load into src/eohub/api/portal/static/vendor/:
#   leaflet/   leaflet.js, leaflet.css, images/         (Leaflet 1.9, BSD-2-Clause)
#   geoman/    leaflet-geoman.js, leaflet-geoman.css    (drawing tools, MIT)
#   topojson/  topojson-client.js                       (TopoJSON -> GeoJSON, ISC)
#   outlines/  countries-110m.json                      (world-atlas, Natural Earth, ISC)
# each with its LICENSE. Idempotent; the old vendor folder is replaced only after a full copy.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
assets="$root/portal-assets"
vendor="$root/src/eohub/api/portal/static/vendor"
modules="$assets/node_modules"

command -v npm >/dev/null 2>&1 || {
  echo "npm is needed for the portal's map libraries (scripts/setup-system.sh installs it)" >&2
  exit 1
}

(cd "$assets" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

staging="$(mktemp -d "$root/src/eohub/api/portal/static/.vendor.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

copy() {  # copy SOURCE DEST (relative to node_modules / the staging folder)
  mkdir -p "$(dirname "$staging/$2")"
  cp -R "$modules/$1" "$staging/$2"
}

copy leaflet/dist/leaflet.js leaflet/leaflet.js
copy leaflet/dist/leaflet.css leaflet/leaflet.css
copy leaflet/dist/images leaflet/images
copy leaflet/LICENSE leaflet/LICENSE
copy @geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js geoman/leaflet-geoman.js
copy @geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css geoman/leaflet-geoman.css
copy @geoman-io/leaflet-geoman-free/LICENSE geoman/LICENSE
copy topojson-client/dist/topojson-client.min.js topojson/topojson-client.js
copy topojson-client/LICENSE topojson/LICENSE
copy world-atlas/countries-110m.json outlines/countries-110m.json
copy world-atlas/LICENSE outlines/LICENSE

# The minified bundles point at source maps that are not copied: drop the comment so browsers
# do not ask for them.
sed -i -e 's|//# sourceMappingURL=.*$||' "$staging/geoman/leaflet-geoman.js" \
  "$staging/leaflet/leaflet.js"

rm -rf "$vendor"
mv "$staging" "$vendor"
chmod 755 "$vendor"
trap - EXIT
echo "portal map libraries installed in ${vendor#"$root"/}"
