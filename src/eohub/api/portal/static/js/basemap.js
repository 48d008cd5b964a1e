// The portal's Leaflet maps: the configured tile layer (with its attribution) and the offline
// country outlines shipped with the hub. The outlines are always offered as a layer choice,
// are the only layer when no tile server is configured, and replace the tiles when they fail
// to load. Leaflet (window.L) and topojson-client (window.topojson) come from
// /static/vendor/ (installed by scripts/build-portal-assets.sh).

import { footprintPolygons, unwrapRing } from './geo.js';

const OUTLINES_URL = '/static/vendor/outlines/countries-110m.json';
const TILE_FAILURES = 4;

/** Whether the map libraries were loaded. */
export function mapsAvailable() {
  return typeof window.L !== 'undefined' && typeof window.topojson !== 'undefined';
}

/** Text of a configured attribution (entities decoded, no markup kept), escaped for Leaflet. */
function attributionText(configured) {
  const decoded = new DOMParser().parseFromString(`<p>${configured || ''}`, 'text/html').body.textContent;
  const div = document.createElement('div');
  div.textContent = decoded;
  return div.innerHTML;
}

/**
 * Outlines with the rings that cross the antimeridian (Fiji, eastern Russia) made continuous,
 * so they are not drawn as a band around the world. A ring round a pole (Antarctica) crosses
 * once and is kept as it is.
 */
function joinAcross(collection) {
  const fix = (ring) => {
    let jumps = 0;
    for (let i = 1; i < ring.length; i += 1) if (Math.abs(ring[i][0] - ring[i - 1][0]) > 180) jumps += 1;
    return jumps && jumps % 2 === 0 ? unwrapRing(ring) : ring;
  };
  for (const feature of collection.features) {
    const g = feature.geometry;
    if (g && g.type === 'Polygon') g.coordinates = g.coordinates.map(fix);
    if (g && g.type === 'MultiPolygon') g.coordinates = g.coordinates.map((p) => p.map(fix));
  }
  return collection;
}

function outlinesLayer() {
  const layer = window.L.geoJSON(null, {
    pane: 'outlines', // under the footprints, whenever the data arrives
    // One canvas rather than hundreds of SVG paths: drawing them no longer holds up the page.
    renderer: window.L.canvas({ pane: 'outlines' }),
    pmIgnore: true,
    interactive: false,
    attribution: 'Country outlines: Natural Earth',
    style: { color: '#6b7785', weight: 0.8, fillColor: '#eef1ea', fillOpacity: 1 },
  });
  let loading = null;
  layer.on('add', () => {
    if (loading) return;
    loading = fetch(OUTLINES_URL)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
      .then((topo) => layer.addData(joinAcross(window.topojson.feature(topo, topo.objects.countries))))
      .catch(() => { loading = null; });
  });
  return layer;
}

/**
 * A map in `element`: `{ map, showNote }`. `config` has `tileUrl` and `tileAttribution`;
 * `onNote(text)` is told when the map falls back to the outlines.
 */
export function createMap(element, config, onNote = () => {}) {
  const L = window.L;
  const map = L.map(element, { worldCopyJump: false, minZoom: 1, zoomSnap: 0.5 }).setView([20, 0], 2);
  map.createPane('outlines').style.zIndex = 250; // above tiles (200), below overlays (400)
  const outlines = outlinesLayer();
  element.classList.add('with-outlines');
  if (!config.tileUrl) {
    outlines.addTo(map);
    return { map, outlines };
  }
  const tiles = L.tileLayer(config.tileUrl, {
    attribution: attributionText(config.tileAttribution),
    maxZoom: 18,
  });
  let [failures, loaded] = [0, 0];
  tiles.on('tileload', () => { loaded += 1; });
  tiles.on('tileerror', () => {
    failures += 1;
    if (failures >= TILE_FAILURES && loaded === 0 && map.hasLayer(tiles)) {
      map.removeLayer(tiles);
      outlines.addTo(map);
      onNote('The base map could not be loaded: the map shows country outlines instead.');
    }
  });
  tiles.addTo(map);
  L.control.layers({ 'Base map': tiles, 'Country outlines (offline)': outlines }, null, { collapsed: true }).addTo(map);
  return { map, outlines };
}

/** A Leaflet polygon of a GeoJSON footprint (antimeridian-safe), or null without one. */
export function footprintLayer(geometry, style, polygons = null) {
  const parts = polygons || footprintPolygons(geometry);
  if (!parts.length) return null;
  const latlngs = parts.map((p) => p.map((ring) => ring.map(([lon, lat]) => [lat, lon])));
  return window.L.polygon(latlngs, { pmIgnore: true, ...style });
}
