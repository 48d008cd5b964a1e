// The search page (/): area of interest, criteria, results, footprints.
//
// Stable hooks (browser tests and styles rely on them):
//   #search-config        JSON block: canSearch, loggedIn, csrfToken, tileUrl, tileAttribution,
//                         vendorReady, maxVertices, searchVertices, pageSizes, maxRows
//   #map                  the Leaflet map (absent when the map libraries are not installed:
//                         #map-missing explains it)            #map-note  fallback notice
//   #draw-rectangle #draw-polygon #aoi-clear                    area buttons
//   #aoi-bbox (form) #aoi-west #aoi-south #aoi-east #aoi-north  typed bounding box
//   #aoi-file             GeoJSON / KML upload          #aoi-status  current area (live)
//   #aoi-error            area errors (alert)
//   #search-form          criteria: #f-collection #f-platform #f-product-type #f-sensing-from
//                         #f-sensing-to #f-ingestion-from #f-ingestion-to #f-cloud-min
//                         #f-cloud-max #f-orbit #f-relative-orbit #f-orbit-direction
//                         #f-polarisation #f-sensor-mode #f-tile #f-text; #search-button
//   #form-error           criteria errors (alert)       #search-error  API errors (alert)
//   #sort #per-page       order and page size
//   #results-heading      focused after a page change   #results-status "N products found" (live)
//   #search-sentence      the search in words
//   #results              <ol>; items .result[data-id] with .result-link (product page),
//                         .result-zoom, .result-cart (logged in), .result-feedback;
//                         .result.highlight while its footprint is highlighted
//   #pager #page-prev #page-next #page-info
//   #save-search (form, logged in) #save-name #save-status
//   #api-urls #api-url #opensearch-url #opensearch-note; buttons .copy[data-copy]
//   body[data-ready]      set once the page answers input (map and listeners in place);
//                         performance marks 'search-ready' then, 'results-rendered'
//                         once a search's results are all drawn
//
// The search lives in the page URL as the plain API parameters (collection=..., start=...,
// geometry=<WKT> or bbox=W,S,E,N, sort, limit, offset), so the URL can be bookmarked, and a
// saved search re-runs by opening /?<params>. No inline script: CSP allows 'self' only.

import {
  AreaError, asBbox, bboxArea, boundsOf, checkBbox, footprintPolygons,
  footprintTolerance, lightenFootprint, parseGeoJSON, parseKML, parseWkt, prepareArea, toWkt,
} from './geo.js';
import { createMap, footprintLayer, mapsAvailable } from './basemap.js';

const config = JSON.parse(document.getElementById('search-config').textContent);
const $ = (id) => document.getElementById(id);
const MAX_FILE_BYTES = 5 * 1024 * 1024;
const STYLE = { color: '#0b5cad', weight: 1.5, fillOpacity: 0.08 };
const HIGHLIGHT = { color: '#d9480f', weight: 3, fillOpacity: 0.25 };
const AOI_STYLE = { color: '#2b8a3e', weight: 2, dashArray: '6 4', fillOpacity: 0.05 };
const SLICE_MS = 25; // drawing results this long at most before the browser may paint and answer input

// Form controls -> plain API parameter (single-valued fields).
const SIMPLE = [
  ['f-collection', 'collection'], ['f-platform', 'platform'], ['f-product-type', 'product_type'],
  ['f-orbit', 'orbit_number'], ['f-relative-orbit', 'relative_orbit'],
  ['f-orbit-direction', 'orbit_direction'], ['f-polarisation', 'polarisation'],
  ['f-sensor-mode', 'sensor_mode'], ['f-tile', 'tile_id'], ['f-text', 'text'],
];
const FORM_KEYS = new Set([...SIMPLE.map(([, key]) => key), 'start', 'end', 'ingestion_date',
  'cloud_cover', 'geometry', 'bbox', 'sort', 'limit', 'offset']);
const DATE = /^\d{4}-\d{2}-\d{2}/;

/** A criterion the form refuses; `control` is the id of the control to fix. */
class FormError extends Error {
  constructor(message, control) {
    super(message);
    this.control = control;
  }
}

const state = {
  area: null, // {polygons, wkt|null, bbox|null, label}
  extra: new URLSearchParams(), // parameters of the URL the form does not show (kept as is)
  offset: 0,
  total: 0,
  items: [],
  layers: new Map(), // product id -> Leaflet layer
  request: null, // AbortController of the running search
};
let mapView = null; // {map, aoiLayer, results}

// ---------------------------------------------------------------- messages

function show(element, text) {
  if (!element) return;
  element.textContent = text || '';
  element.hidden = !text;
}

function areaMessage(text) {
  show($('aoi-error'), text);
}

// ---------------------------------------------------------------- area of interest

function describeArea(area) {
  if (!area) return 'No area: the whole world is searched.';
  const [w, s, e, n] = area.bbox || boundsOf(area.polygons || []);
  const f = (v) => Number(v).toFixed(3).replace(/\.?0+$/, '');
  return `${area.label}: west ${f(w)}, south ${f(s)}, east ${f(e)}, north ${f(n)}${area.note || ''}.`;
}

function drawArea() {
  if (!mapView) return;
  if (mapView.aoiLayer) mapView.map.removeLayer(mapView.aoiLayer);
  mapView.aoiLayer = null;
  const area = state.area;
  if (!area || !area.polygons) return;
  mapView.aoiLayer = footprintLayer(null, { ...AOI_STYLE, interactive: false }, area.polygons).addTo(mapView.map);
}

function fillBbox(bbox) {
  ['aoi-west', 'aoi-south', 'aoi-east', 'aoi-north'].forEach((id, i) => {
    $(id).value = bbox ? String(bbox[i]) : '';
  });
}

/** Use `polygons` as the area (checked and maybe simplified); false when refused. */
function setArea(polygons, label, { fit = true } = {}) {
  let prepared;
  try {
    prepared = prepareArea(polygons, config);
  } catch (err) {
    if (!(err instanceof AreaError)) throw err;
    areaMessage(err.message);
    return false;
  }
  areaMessage('');
  const bbox = asBbox(prepared.polygons);
  state.area = {
    polygons: prepared.polygons,
    bbox,
    wkt: bbox ? null : toWkt(prepared.polygons),
    label,
    note: prepared.note,
  };
  fillBbox(bbox);
  $('aoi-status').textContent = describeArea(state.area);
  drawArea();
  if (fit && mapView && mapView.aoiLayer) mapView.map.fitBounds(mapView.aoiLayer.getBounds(), { maxZoom: 10 });
  return true;
}

function clearArea() {
  state.area = null;
  fillBbox(null);
  areaMessage('');
  $('aoi-status').textContent = describeArea(null);
  drawArea();
}

function onBboxSubmit(event) {
  event.preventDefault();
  let bbox;
  try {
    bbox = checkBbox(['aoi-west', 'aoi-south', 'aoi-east', 'aoi-north'].map((id) => $(id).value));
  } catch (err) {
    if (!(err instanceof AreaError)) throw err;
    areaMessage(err.message);
    $('aoi-west').focus();
    return;
  }
  setArea(bboxArea(...bbox), 'Typed box');
}

function onFile(event) {
  const file = event.target.files && event.target.files[0];
  if (!file) return;
  if (file.size > MAX_FILE_BYTES) {
    areaMessage(`The file is too large (${Math.round(file.size / 1024)} KB): at most 5 MB is accepted.`);
    return;
  }
  const name = file.name.toLowerCase();
  if (name.endsWith('.kmz')) {
    areaMessage('KMZ files are zipped: unzip it and upload the .kml file inside.');
    return;
  }
  file.text().then((text) => {
    let polygons;
    try {
      const kml = name.endsWith('.kml') || /^\s*<\?xml|^\s*<kml/i.test(text);
      polygons = kml ? parseKML(text) : parseGeoJSON(text);
    } catch (err) {
      if (!(err instanceof AreaError)) throw err;
      areaMessage(`${file.name}: ${err.message}`);
      return;
    }
    setArea(polygons, `Area from ${file.name}`);
  }, () => areaMessage(`${file.name} could not be read.`));
}

function layerPolygons(layer) {
  const rings = layer.getLatLngs();
  const polygons = Array.isArray(rings[0][0]) ? rings : [rings];
  return polygons.map((p) => p.map((ring) => ring.map((ll) => [ll.lng, ll.lat])));
}

// ---------------------------------------------------------------- map

function initMap() {
  const element = $('map');
  if (!element || !config.vendorReady || !mapsAvailable()) {
    if (element) show($('map-note'), 'The map could not be started: use coordinates or a file for the area.');
    return;
  }
  const { map } = createMap(element, config, (text) => show($('map-note'), text));
  mapView = { map, aoiLayer: null, results: window.L.featureGroup().addTo(map) };
  if (map.pm) {
    map.pm.setGlobalOptions({ allowSelfIntersection: false, snappable: false });
    map.on('pm:create', (event) => {
      const layer = event.layer;
      map.removeLayer(layer);
      const label = event.shape === 'Rectangle' ? 'Drawn rectangle' : 'Drawn polygon';
      setArea(layerPolygons(layer), label, { fit: false });
      $(event.shape === 'Rectangle' ? 'draw-rectangle' : 'draw-polygon').focus();
    });
    $('draw-rectangle').addEventListener('click', () => map.pm.enableDraw('Rectangle'));
    $('draw-polygon').addEventListener('click', () => map.pm.enableDraw('Polygon'));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    });
  }
}

// ---------------------------------------------------------------- URL <-> form

function datePart(value) {
  return DATE.test(value || '') ? value.slice(0, 10) : '';
}

function splitRange(value) {
  const at = (value || '').indexOf('..');
  return at < 0 ? [value || '', ''] : [value.slice(0, at), value.slice(at + 2)];
}

function readUrl(params) {
  for (const [id, key] of SIMPLE) setControl($(id), params.get(key) || '');
  $('f-sensing-from').value = datePart(params.get('start'));
  $('f-sensing-to').value = datePart(params.get('end'));
  const [ingFrom, ingTo] = splitRange(params.get('ingestion_date'));
  $('f-ingestion-from').value = datePart(ingFrom);
  $('f-ingestion-to').value = datePart(ingTo);
  const [cloudMin, cloudMax] = splitRange(params.get('cloud_cover'));
  $('f-cloud-min').value = cloudMin;
  $('f-cloud-max').value = cloudMax;
  setControl($('sort'), params.get('sort') || '-sensing_start');
  setControl($('per-page'), params.get('limit') || String(config.pageSizes[0]));
  state.offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  state.extra = new URLSearchParams();
  for (const [key, value] of params) if (!FORM_KEYS.has(key)) state.extra.append(key, value);
  if (params.get('bbox')) {
    try {
      const bbox = checkBbox(params.get('bbox').split(','));
      setArea(bboxArea(...bbox), 'Box from the link');
    } catch (err) {
      if (!(err instanceof AreaError)) throw err;
      areaMessage(`The link's box is invalid: ${err.message}`);
    }
  } else if (params.get('geometry')) {
    const polygons = parseWkt(params.get('geometry'));
    if (polygons) setArea(polygons, 'Area from the link');
    else {
      state.area = { polygons: null, bbox: null, wkt: params.get('geometry'), label: 'Area from the link' };
      $('aoi-status').textContent = 'Area from the link (not drawn: it is not a polygon).';
    }
  } else clearArea();
  filterProductTypes();
}

/** Set a control's value; a select gets an extra option for a value it does not list. */
function setControl(control, value) {
  if (control.tagName === 'SELECT' && value && ![...control.options].some((o) => o.value === value)) {
    control.add(new Option(value, value));
  }
  control.value = value;
}

function dayStart(date) { return `${date}T00:00:00Z`; }
function dayEnd(date) { return `${date}T23:59:59.999Z`; }

/** The plain API parameters of the form; throws FormError (shown under the form) when invalid. */
function formParams() {
  const params = new URLSearchParams();
  for (const [id, key] of SIMPLE) {
    const value = $(id).value.trim();
    if (value) params.set(key, key === 'tile_id' ? value.toUpperCase() : value);
  }
  const [sFrom, sTo] = [$('f-sensing-from').value, $('f-sensing-to').value];
  if (sFrom && sTo && sFrom > sTo) throw new FormError('The sensing "from" date is after the "to" date.', 'f-sensing-from');
  if (sFrom) params.set('start', dayStart(sFrom));
  if (sTo) params.set('end', dayEnd(sTo));
  const [iFrom, iTo] = [$('f-ingestion-from').value, $('f-ingestion-to').value];
  if (iFrom && iTo && iFrom > iTo) throw new FormError('The ingestion "from" date is after the "to" date.', 'f-ingestion-from');
  if (iFrom || iTo) params.set('ingestion_date', `${iFrom ? dayStart(iFrom) : ''}..${iTo ? dayEnd(iTo) : ''}`);
  const [cMin, cMax] = [$('f-cloud-min').value.trim(), $('f-cloud-max').value.trim()];
  for (const [value, id] of [[cMin, 'f-cloud-min'], [cMax, 'f-cloud-max']]) {
    if (value && !(Number(value) >= 0 && Number(value) <= 100)) throw new FormError('Cloud cover must be between 0 and 100.', id);
  }
  if (cMin && cMax && Number(cMin) > Number(cMax)) throw new FormError('The lowest cloud cover is above the highest.', 'f-cloud-min');
  if (cMin || cMax) params.set('cloud_cover', `${cMin}..${cMax}`);
  for (const id of ['f-orbit', 'f-relative-orbit']) {
    const value = $(id).value.trim();
    if (value && !/^\d{1,7}$/.test(value)) throw new FormError('Orbit numbers are whole numbers.', id);
  }
  const tile = $('f-tile').value.trim();
  if (tile && !/^[0-9]{1,2}[A-Za-z]{3}$/.test(tile)) throw new FormError('A tile is an MGRS tile id such as 32UNF.', 'f-tile');
  if (state.area) {
    if (state.area.bbox) params.set('bbox', state.area.bbox.join(','));
    else params.set('geometry', state.area.wkt);
  }
  for (const [key, value] of state.extra) params.append(key, value);
  params.set('sort', $('sort').value);
  params.set('limit', $('per-page').value);
  return params;
}

function withOffset(params) {
  const copy = new URLSearchParams(params);
  if (state.offset) copy.set('offset', String(state.offset));
  else copy.delete('offset');
  return copy;
}

function filterProductTypes() {
  const collection = $('f-collection').value;
  const select = $('f-product-type');
  for (const group of select.querySelectorAll('optgroup')) {
    const hidden = Boolean(collection) && group.dataset.collection !== collection;
    group.hidden = hidden;
    group.disabled = hidden;
  }
  const chosen = select.selectedOptions[0];
  if (chosen && chosen.parentElement.disabled) select.value = '';
}

// ---------------------------------------------------------------- results

function when(iso) {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '';
}

function size(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let [value, unit] = [bytes, 0];
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return unit ? `${value.toFixed(1)} ${units[unit]}` : `${bytes} bytes`;
}

function highlight(id, on) {
  const item = $('results').querySelector(`.result[data-id="${CSS.escape(id)}"]`);
  if (item) item.classList.toggle('highlight', on);
  const layer = state.layers.get(id);
  if (layer) {
    layer.setStyle(on ? HIGHLIGHT : STYLE);
    if (on) layer.bringToFront();
  }
}

function zoomTo(id) {
  const layer = state.layers.get(id);
  if (layer && mapView) {
    mapView.map.fitBounds(layer.getBounds(), { maxZoom: 9, padding: [20, 20] });
    $('map').scrollIntoView({ block: 'nearest' });
  }
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': config.csrfToken },
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  return { response, data };
}

function failure(response, data, missing) {
  if (response.status === 404 && !(data && data.error)) return missing;
  if (response.status === 401) return 'Please log in again.';
  return (data && data.error && data.error.message) || `The hub answered ${response.status}.`;
}

async function addToCart(id, feedback) {
  feedback.textContent = 'Adding…';
  try {
    const { response, data } = await postJson('/cart/items', { product_id: id });
    feedback.textContent = response.ok
      ? `Added to the cart${data && data.count ? ` (${data.count} in it)` : ''}.`
      : failure(response, data, 'The cart is not available on this hub yet.');
  } catch (err) {
    feedback.textContent = 'The hub could not be reached.';
  }
}

function contextParams() {
  const params = new URLSearchParams(window.location.search);
  params.delete('offset');
  return params.toString();
}

/** Let the browser paint and answer input before going on. */
function yieldToBrowser() {
  return new Promise((resolve) => { window.setTimeout(resolve, 0); });
}

/** The list item of one result, with its footprint on the map. */
function resultItem(item, position, context, shape) {
  const node = $('result-template').content.firstElementChild.cloneNode(true);
  node.dataset.id = item.id;
  const link = node.querySelector('.result-link');
  link.textContent = item.name;
  link.href = `/products/${encodeURIComponent(item.id)}?from=${context}&i=${position}`;
  link.id = `result-${position}`;
  const facts = [item.platform, item.product_type, `sensed ${when(item.sensing_start)}`];
  if (item.cloud_cover !== null && item.cloud_cover !== undefined) facts.push(`cloud cover ${Number(item.cloud_cover).toFixed(1)}%`);
  facts.push(size(item.size));
  if (!item.online) facts.push('offline');
  node.querySelector('.result-meta').textContent = facts.join(' · ');
  const zoom = node.querySelector('.result-zoom');
  const cart = node.querySelector('.result-cart');
  const feedback = node.querySelector('.result-feedback');
  zoom.setAttribute('aria-describedby', link.id);
  cart.setAttribute('aria-describedby', link.id);
  if (!config.loggedIn) cart.remove();
  else cart.addEventListener('click', () => addToCart(item.id, feedback));
  if (mapView && shape.length) {
    const layer = footprintLayer(null, STYLE, shape);
    layer.on('mouseover', () => highlight(item.id, true));
    layer.on('mouseout', () => highlight(item.id, false));
    layer.on('click', () => { node.scrollIntoView({ block: 'nearest' }); link.focus(); });
    const tip = document.createElement('span');
    tip.textContent = item.name; // text, never markup: names come from product metadata
    layer.bindTooltip(tip, { sticky: true });
    mapView.results.addLayer(layer);
    state.layers.set(item.id, layer);
    zoom.addEventListener('click', () => zoomTo(item.id));
  } else {
    zoom.remove();
  }
  for (const [type, on] of [['mouseenter', true], ['mouseleave', false], ['focusin', true], ['focusout', false]]) {
    node.addEventListener(type, () => highlight(item.id, on));
  }
  return node;
}

/**
 * Draw a page of results in slices of SLICE_MS, letting the browser paint and answer input
 * in between (a page of 1,000 never freezes it); false when a newer search took over meanwhile.
 * Footprints are simplified when the page has many vertices.
 */
async function renderResults(page, signal) {
  const list = $('results');
  list.replaceChildren();
  if (mapView) mapView.results.clearLayers();
  state.layers.clear();
  const [offset, items] = [state.offset, page.items];
  const context = encodeURIComponent(contextParams());
  const shapes = items.map((item) => footprintPolygons(item.footprint));
  const tolerance = footprintTolerance(shapes);
  let i = 0;
  while (i < items.length) {
    if (i) {
      await yieldToBrowser();
      if (signal.aborted) return false;
    }
    const until = performance.now() + SLICE_MS;
    const slice = document.createDocumentFragment();
    do {
      slice.append(resultItem(items[i], offset + i, context, lightenFootprint(shapes[i], tolerance)));
      i += 1;
    } while (i < items.length && performance.now() < until);
    list.append(slice);
  }
  return true;
}

function renderPager(limit) {
  const pages = Math.max(1, Math.ceil(state.total / limit));
  const page = Math.floor(state.offset / limit) + 1;
  $('pager').hidden = state.total <= limit && state.offset === 0;
  $('page-prev').disabled = state.offset === 0;
  $('page-next').disabled = state.offset + limit >= state.total;
  $('page-info').textContent = `Page ${page} of ${pages}`;
}

function statusText(page, limit) {
  const total = page.total === null || page.total === undefined ? page.count : page.total;
  state.total = total;
  if (!total) return 'No products found.';
  const first = state.offset + 1;
  const last = state.offset + page.count;
  const found = `${total.toLocaleString('en')} product${total === 1 ? '' : 's'} found`;
  return total > limit || state.offset ? `${found}, showing ${first} to ${last}.` : `${found}.`;
}

async function explain(params) {
  try {
    const response = await fetch(`/explain?${params}`, { headers: { Accept: 'application/json' } });
    const data = await response.json();
    if (!response.ok) return;
    $('search-sentence').textContent = data.sentence;
    $('api-url').value = new URL(data.api, window.location.href).href;
    $('opensearch-url').value = data.opensearch ? new URL(data.opensearch, window.location.href).href : '';
    $('opensearch-url').closest('.copy-row').hidden = !data.opensearch;
    show($('opensearch-note'), data.opensearch
      ? (data.opensearch_note ? `Note: ${data.opensearch_note}.` : '')
      : `No OpenSearch equivalent: ${data.opensearch_note}.`);
    $('api-urls').hidden = false;
  } catch (err) {
    // The sentence is a help only: the results stand without it.
  }
}

/** Run the search of the form at state.offset; `history`: 'push', 'replace' or 'none'. */
async function runSearch({ history = 'push', focus = false } = {}) {
  let params;
  show($('form-error'), '');
  for (const el of $('search-form').querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  try {
    params = formParams();
  } catch (err) {
    if (!(err instanceof FormError)) throw err;
    show($('form-error'), err.message);
    $(err.control).setAttribute('aria-invalid', 'true');
    $(err.control).focus();
    return;
  }
  const paged = withOffset(params);
  const url = `${window.location.pathname}?${paged}`;
  if (history === 'push' && url !== `${window.location.pathname}${window.location.search}`) window.history.pushState(null, '', url);
  else if (history !== 'none') window.history.replaceState(null, '', url);
  if (!config.canSearch) {
    show($('search-error'), 'Log in to search the catalogue.');
    return;
  }
  if (state.request) state.request.abort();
  const controller = new AbortController();
  state.request = controller;
  $('results-status').textContent = 'Searching…';
  $('results-panel').setAttribute('aria-busy', 'true');
  show($('search-error'), '');
  explain(paged);
  const limit = Number(params.get('limit'));
  try {
    const response = await fetch(`/api/search?${paged}&count=true`, {
      headers: { Accept: 'application/json' }, credentials: 'same-origin', signal: controller.signal,
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || `The search failed (${response.status}).`;
      show($('search-error'), `The search was refused: ${message}`);
      $('results-status').textContent = 'The search was refused.';
      $('results').replaceChildren();
      if (mapView) mapView.results.clearLayers();
      $('pager').hidden = true;
      return;
    }
    $('results-status').textContent = statusText(data, limit);
    state.items = data.items;
    if (!(await renderResults(data, controller.signal))) return;
    renderPager(limit);
    performance.mark('results-rendered');
    if ($('save-search')) $('save-search').hidden = false;
    if (focus) $('results-heading').focus();
  } catch (err) {
    if (err.name === 'AbortError') return;
    show($('search-error'), 'The hub could not be reached: try again.');
    $('results-status').textContent = 'The search failed.';
  } finally {
    if (state.request === controller) {
      state.request = null;
      $('results-panel').removeAttribute('aria-busy');
    }
  }
}

// ---------------------------------------------------------------- saving, copying

async function saveSearch(event) {
  event.preventDefault();
  const name = $('save-name').value.trim();
  const status = $('save-status');
  if (!name) {
    status.textContent = 'Give the search a name first.';
    $('save-name').focus();
    return;
  }
  const params = new URLSearchParams(window.location.search);
  params.delete('offset');
  status.textContent = 'Saving…';
  try {
    const { response, data } = await postJson('/searches', { name, params: params.toString() });
    status.textContent = response.ok
      ? `Saved as “${name}”. Find it under Saved searches.`
      : failure(response, data, 'Saved searches are not available on this hub yet.');
  } catch (err) {
    status.textContent = 'The hub could not be reached.';
  }
}

async function copyField(button) {
  const input = $(button.dataset.copy);
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (err) {
    input.select();
    document.execCommand('copy');
  }
  const label = button.textContent;
  button.textContent = 'Copied';
  window.setTimeout(() => { button.textContent = label; }, 1500);
}

// ---------------------------------------------------------------- start

function start() {
  initMap();
  const narrow = window.matchMedia('(max-width: 47.99rem)').matches;
  $('aoi-bbox').addEventListener('submit', onBboxSubmit);
  $('aoi-file').addEventListener('change', onFile);
  $('aoi-clear').addEventListener('click', clearArea);
  $('f-collection').addEventListener('change', filterProductTypes);
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.offset = 0;
    runSearch().then(() => { if (narrow) $('criteria').open = false; });
  });
  $('search-form').addEventListener('reset', () => {
    window.setTimeout(() => { state.extra = new URLSearchParams(); filterProductTypes(); }, 0);
  });
  for (const id of ['sort', 'per-page']) {
    $(id).addEventListener('change', () => { state.offset = 0; runSearch(); });
  }
  $('page-prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - Number($('per-page').value));
    runSearch({ focus: true });
  });
  $('page-next').addEventListener('click', () => {
    state.offset += Number($('per-page').value);
    runSearch({ focus: true });
  });
  for (const button of document.querySelectorAll('button.copy[data-copy]')) {
    button.addEventListener('click', () => copyField(button));
  }
  if ($('save-search')) $('save-search').addEventListener('submit', saveSearch);
  window.addEventListener('popstate', () => {
    readUrl(new URLSearchParams(window.location.search));
    if (window.location.search) runSearch({ history: 'none' });
  });
  const params = new URLSearchParams(window.location.search);
  readUrl(params);
  if ([...params.keys()].length) {
    if (narrow) $('criteria').open = false;
    runSearch({ history: 'none' });
  }
  document.body.dataset.ready = 'true';
  performance.mark('search-ready');
}

start();
