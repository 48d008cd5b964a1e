// Geometry helpers of the portal's pages, without any map library.
//
// A polygon is an array of rings, a ring an array of [lon, lat] pairs (open: the first point is
// not repeated at the end). An area of interest (AOI) is an array of polygons. These functions
// read areas from GeoJSON, KML and WKT, check and simplify them, write WKT for the search API,
// and prepare product footprints for drawing across the antimeridian.

/** An error whose message is shown to the user as is. */
export class AreaError extends Error {}

const EPS = 1e-12;

/** Round a coordinate to 6 decimals (about 0.1 m), as written into URLs. */
export function round6(value) {
  return Math.round(value * 1e6) / 1e6;
}

/** A ring without its closing point. */
export function openRing(ring) {
  if (ring.length > 1) {
    const [a, b] = [ring[0], ring[ring.length - 1]];
    if (a[0] === b[0] && a[1] === b[1]) return ring.slice(0, -1);
  }
  return ring;
}

/** Longitudes made continuous: no jump of more than 180 degrees between two points. */
export function unwrapRing(ring) {
  const out = [];
  for (const [lon0, lat] of ring) {
    let lon = lon0;
    if (out.length) {
      const prev = out[out.length - 1][0];
      while (lon - prev > 180) lon -= 360;
      while (lon - prev < -180) lon += 360;
    }
    out.push([lon, lat]);
  }
  return out;
}

/** Number of vertices of an area (closing points not counted). */
export function countVertices(polygons) {
  let n = 0;
  for (const polygon of polygons) for (const ring of polygon) n += ring.length;
  return n;
}

/** [west, south, east, north] of an area (east may exceed 180 for an area across it). */
export function boundsOf(polygons) {
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const polygon of polygons) {
    for (const [lon, lat] of polygon[0] || []) {
      w = Math.min(w, lon); e = Math.max(e, lon);
      s = Math.min(s, lat); n = Math.max(n, lat);
    }
  }
  return [w, s, e, n];
}

/** The area of a bounding box; west > east means a box across the antimeridian. */
export function bboxArea(west, south, east, north) {
  const e = west > east ? east + 360 : east;
  return [[[[west, south], [e, south], [e, north], [west, north]]]];
}

/** Check typed bounding-box values; returns [w, s, e, n] or throws AreaError. */
export function checkBbox(values) {
  const names = ['West', 'South', 'East', 'North'];
  const numbers = values.map((text, i) => {
    const trimmed = String(text).trim();
    if (trimmed === '') throw new AreaError(`${names[i]} is missing.`);
    const value = Number(trimmed);
    if (!Number.isFinite(value)) throw new AreaError(`${names[i]} is not a number: "${trimmed}".`);
    return value;
  });
  const [w, s, e, n] = numbers;
  if (w < -180 || w > 180 || e < -180 || e > 180) {
    throw new AreaError('West and east must be longitudes between -180 and 180.');
  }
  if (s < -90 || s > 90 || n < -90 || n > 90) {
    throw new AreaError('South and north must be latitudes between -90 and 90.');
  }
  if (s >= n) throw new AreaError('South must be less than north.');
  if (w === e) throw new AreaError('West and east must differ.');
  return numbers;
}

/** The bounding box of a single rectangle area, or null when the area is not one. */
export function asBbox(polygons) {
  if (polygons.length !== 1 || polygons[0].length !== 1) return null;
  const ring = openRing(polygons[0][0]);
  if (ring.length !== 4) return null;
  const [w, s, e, n] = boundsOf([[ring]]);
  const corners = new Set(ring.map(([x, y]) => `${x} ${y}`));
  for (const c of [[w, s], [e, s], [e, n], [w, n]]) if (!corners.has(`${c[0]} ${c[1]}`)) return null;
  const west = ((w + 540) % 360) - 180;
  let east = ((e + 540) % 360) - 180;
  if (east <= west) east = east === -180 ? 180 : east;
  return [round6(west), round6(s), round6(east), round6(n)];
}

function ringWkt(ring) {
  const points = openRing(ring).map(([x, y]) => `${round6(x)} ${round6(y)}`);
  points.push(points[0]);
  return `(${points.join(',')})`;
}

/** WKT of an area: POLYGON for one polygon, MULTIPOLYGON for several. */
export function toWkt(polygons) {
  const bodies = polygons.map((polygon) => `(${polygon.map(ringWkt).join(',')})`);
  if (bodies.length === 1) return `POLYGON${bodies[0]}`;
  return `MULTIPOLYGON(${bodies.join(',')})`;
}

/** A ring without repeated consecutive points. */
export function dedupe(ring) {
  return ring.filter((p, i) => i === 0 || p[0] !== ring[i - 1][0] || p[1] !== ring[i - 1][1]);
}

/** Shift a whole area by whole turns so its west edge lies in [-180, 180). */
export function normaliseArea(polygons) {
  const unwrapped = polygons.map((polygon) => polygon.map((ring) => unwrapRing(dedupe(openRing(ring)))));
  const [w] = boundsOf(unwrapped);
  const turns = Math.floor((w + 180) / 360);
  if (!turns) return unwrapped;
  return unwrapped.map((p) => p.map((r) => r.map(([x, y]) => [x - 360 * turns, y])));
}

function numberPair(pair, where) {
  if (!Array.isArray(pair) || pair.length < 2) throw new AreaError(`${where}: a position needs longitude and latitude.`);
  const [lon, lat] = [Number(pair[0]), Number(pair[1])];
  if (!Number.isFinite(lon) || !Number.isFinite(lat)) throw new AreaError(`${where}: coordinates must be numbers.`);
  if (lat < -90 || lat > 90) throw new AreaError(`${where}: latitude ${lat} is outside -90..90 (coordinates are longitude, latitude).`);
  if (lon < -540 || lon > 540) throw new AreaError(`${where}: longitude ${lon} is outside -180..180.`);
  return [lon, lat];
}

function checkRing(ring, where) {
  const open = openRing(ring);
  if (open.length < 3) throw new AreaError(`${where}: a ring needs at least 3 distinct points.`);
  return open;
}

function geojsonPolygons(geometry, out, where) {
  if (!geometry || typeof geometry !== 'object') return;
  const { type, coordinates } = geometry;
  if (type === 'Polygon') {
    if (!Array.isArray(coordinates) || !coordinates.length) throw new AreaError(`${where}: empty polygon.`);
    out.push(coordinates.map((ring) => checkRing(ring.map((p) => numberPair(p, where)), where)));
  } else if (type === 'MultiPolygon') {
    if (!Array.isArray(coordinates)) throw new AreaError(`${where}: bad MultiPolygon.`);
    for (const polygon of coordinates) geojsonPolygons({ type: 'Polygon', coordinates: polygon }, out, where);
  } else if (type === 'GeometryCollection') {
    for (const g of geometry.geometries || []) geojsonPolygons(g, out, where);
  } else if (type === 'Feature') {
    geojsonPolygons(geometry.geometry, out, where);
  } else if (type === 'FeatureCollection') {
    for (const f of geometry.features || []) geojsonPolygons(f, out, where);
  }
}

/** The polygons of a GeoJSON text (FeatureCollection, Feature or geometry). */
export function parseGeoJSON(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new AreaError('The file is not valid JSON, so not GeoJSON.');
  }
  const polygons = [];
  geojsonPolygons(data, polygons, 'GeoJSON');
  if (!polygons.length) throw new AreaError('The GeoJSON file holds no Polygon or MultiPolygon: an area of interest must be a polygon.');
  return polygons;
}

function kmlRing(element, where) {
  const coords = element && element.getElementsByTagNameNS('*', 'coordinates')[0];
  if (!coords) throw new AreaError(`${where}: a boundary without coordinates.`);
  const tuples = coords.textContent.trim().split(/\s+/).filter(Boolean);
  return checkRing(tuples.map((t) => numberPair(t.split(','), where)), where);
}

/** The polygons of a KML text (every Polygon element, with its holes). */
export function parseKML(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) throw new AreaError('The file is not valid XML, so not KML.');
  const polygons = [];
  for (const element of doc.getElementsByTagNameNS('*', 'Polygon')) {
    const outer = element.getElementsByTagNameNS('*', 'outerBoundaryIs')[0];
    const rings = [kmlRing(outer, 'KML')];
    for (const inner of element.getElementsByTagNameNS('*', 'innerBoundaryIs')) rings.push(kmlRing(inner, 'KML'));
    polygons.push(rings);
  }
  if (!polygons.length) throw new AreaError('The KML file holds no Polygon: an area of interest must be a polygon.');
  return polygons;
}

/** The polygons of a POLYGON or MULTIPOLYGON WKT (null for any other geometry). */
export function parseWkt(text) {
  const match = /^\s*(MULTIPOLYGON|POLYGON)\s*(\(.*\))\s*$/is.exec(text || '');
  if (!match) return null;
  const json = match[2]
    .replace(/\(/g, '[').replace(/\)/g, ']')
    .replace(/(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)/g, '[$1,$2]');
  let nested;
  try {
    nested = JSON.parse(json);
  } catch (err) {
    return null;
  }
  const polygons = match[1].toUpperCase() === 'POLYGON' ? [nested] : nested;
  return polygons.map((polygon) => polygon.map((ring) => openRing(ring)));
}

function orientation(a, b, c) {
  const v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
  return Math.abs(v) < EPS ? 0 : Math.sign(v);
}

function onSegment(a, b, p) {
  return Math.min(a[0], b[0]) - EPS <= p[0] && p[0] <= Math.max(a[0], b[0]) + EPS &&
    Math.min(a[1], b[1]) - EPS <= p[1] && p[1] <= Math.max(a[1], b[1]) + EPS;
}

function segmentsCross(a, b, c, d) {
  const [o1, o2, o3, o4] = [orientation(a, b, c), orientation(a, b, d), orientation(c, d, a), orientation(c, d, b)];
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && onSegment(a, b, c)) || (o2 === 0 && onSegment(a, b, d)) ||
    (o3 === 0 && onSegment(c, d, a)) || (o4 === 0 && onSegment(c, d, b));
}

/** Whether a ring crosses or touches itself (checked up to `limit` points; null beyond). */
export function selfIntersects(ring, limit = 2000) {
  const pts = openRing(ring);
  const n = pts.length;
  if (n > limit) return null;
  for (let i = 0; i < n; i += 1) {
    const [a, b] = [pts[i], pts[(i + 1) % n]];
    for (let j = i + 1; j < n; j += 1) {
      if (j === i || (j + 1) % n === i || j === (i + 1) % n) continue;
      if (segmentsCross(a, b, pts[j], pts[(j + 1) % n])) return true;
    }
  }
  return false;
}

function perpendicular(p, a, b) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len = dx * dx + dy * dy;
  if (len === 0) return Math.hypot(p[0] - a[0], p[1] - a[1]);
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len));
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

/** Douglas-Peucker simplification of an open ring (keeps at least 4 points when it can). */
export function simplifyRing(ring, tolerance) {
  const pts = openRing(ring);
  if (pts.length <= 4 || tolerance <= 0) return pts;
  const keep = new Uint8Array(pts.length + 1);
  keep[0] = 1; keep[pts.length] = 1;
  const closed = [...pts, pts[0]];
  const stack = [[0, pts.length]];
  while (stack.length) {
    const [first, last] = stack.pop();
    let [index, max] = [-1, tolerance];
    for (let i = first + 1; i < last; i += 1) {
      const d = perpendicular(closed[i], closed[first], closed[last]);
      if (d > max) { index = i; max = d; }
    }
    if (index > 0) { keep[index] = 1; stack.push([first, index], [index, last]); }
  }
  const out = pts.filter((_, i) => keep[i]);
  return out.length >= 3 ? out : pts;
}

/** An area simplified until it has at most `maxVertices` vertices (tolerance doubled each try). */
export function simplifyArea(polygons, maxVertices) {
  let tolerance = 1e-5;
  let current = polygons;
  for (let i = 0; i < 40 && countVertices(current) > maxVertices; i += 1) {
    current = polygons.map((p) => p.map((r) => simplifyRing(r, tolerance)));
    tolerance *= 2;
  }
  return current;
}

/**
 * Check an area for searching; returns `{polygons, note}` (simplified when it has more than
 * `searchVertices` vertices) or throws AreaError with the reason.
 */
export function prepareArea(polygons, { maxVertices, searchVertices }) {
  const count = countVertices(polygons);
  if (count > maxVertices) {
    throw new AreaError(`The area has ${count.toLocaleString('en')} vertices: at most ${maxVertices.toLocaleString('en')} are accepted. Simplify it first.`);
  }
  let area = normaliseArea(polygons);
  let note = '';
  if (count > searchVertices) {
    area = simplifyArea(area, searchVertices);
    note = ` (simplified from ${count.toLocaleString('en')} to ${countVertices(area).toLocaleString('en')} vertices for the search)`;
  }
  for (const polygon of area) {
    for (const ring of polygon) {
      if (selfIntersects(ring)) {
        throw new AreaError(note
          ? 'The area is too detailed: simplified for the search, it crosses itself. Simplify it first.'
          : 'The area crosses itself: draw or upload a polygon whose edges do not cross.');
      }
    }
  }
  return { polygons: area, note };
}

/**
 * The polygons of a GeoJSON footprint ready to draw: rings unwrapped, and the parts of a
 * footprint split at the antimeridian moved next to each other (the western parts shifted by
 * 360 degrees), so a product crossing 180 is not drawn as a band around the world.
 */
export function footprintPolygons(geometry) {
  const polygons = [];
  if (!geometry) return polygons;
  if (geometry.type === 'Polygon') polygons.push(geometry.coordinates);
  else if (geometry.type === 'MultiPolygon') polygons.push(...geometry.coordinates);
  else if (geometry.type === 'GeometryCollection') {
    for (const g of geometry.geometries || []) polygons.push(...footprintPolygons(g));
    return polygons;
  }
  const parts = polygons.map((p) => p.map((r) => unwrapRing(openRing(r))));
  const touchesEast = parts.some((p) => p[0].some(([x]) => x >= 179.999999));
  const touchesWest = parts.some((p) => p[0].some(([x]) => x <= -179.999999));
  if (!(touchesEast && touchesWest)) return parts;
  return parts.map((p) => {
    const [w, , e] = boundsOf([p]);
    return (w + e) / 2 < 0 ? p.map((r) => r.map(([x, y]) => [x + 360, y])) : p;
  });
}

/** The tolerance simplifying a page of footprints: 0 unless they have more than `budget` vertices in all. */
export function footprintTolerance(list, budget = 20000) {
  const total = list.reduce((n, polygons) => n + countVertices(polygons), 0);
  return total <= budget ? 0 : 0.005 * (total / budget);
}

/** A footprint simplified with `tolerance` (the same polygons when it is 0). */
export function lightenFootprint(polygons, tolerance) {
  if (!tolerance) return polygons;
  return polygons.map((p) => p.map((r) => simplifyRing(r, tolerance)));
}
