// The product page (/products/{id}): the footprint on a small map, and the quicklook opened
// full size in a dialog with zoom buttons.
//
// Stable hooks: #product[data-id], #product-data (JSON: footprint), #product-map,
// #quicklook-open (link to the full image; without script it opens the image itself),
// #quicklook-dialog, #quicklook-full, #quicklook-zoom-in, #quicklook-zoom-out,
// #quicklook-close, #download, #product-prev, #product-next, #product-back, #files.
// #product-data also holds tileUrl and tileAttribution for the map.

import { createMap, footprintLayer, mapsAvailable } from './basemap.js';

const $ = (id) => document.getElementById(id);
const data = JSON.parse($('product-data').textContent);
const ZOOMS = [1, 1.5, 2, 3, 4];

function showFootprint() {
  const element = $('product-map');
  if (!element || !data.footprint || !mapsAvailable()) return;
  const { map } = createMap(element, data);
  const layer = footprintLayer(data.footprint, { color: '#d9480f', weight: 2, fillOpacity: 0.2 });
  if (layer) {
    layer.addTo(map);
    map.fitBounds(layer.getBounds(), { maxZoom: 6, padding: [10, 10] });
  }
}

function quicklookDialog() {
  const opener = $('quicklook-open');
  const dialog = $('quicklook-dialog');
  if (!opener || !dialog || typeof dialog.showModal !== 'function') return;
  const image = $('quicklook-full');
  let zoom = 0;
  const apply = () => {
    image.classList.remove(...ZOOMS.map((_, i) => `zoom-${i}`));
    image.classList.add(`zoom-${zoom}`);
    $('quicklook-zoom-out').disabled = zoom === 0;
    $('quicklook-zoom-in').disabled = zoom === ZOOMS.length - 1;
  };
  opener.addEventListener('click', (event) => {
    event.preventDefault();
    zoom = 0;
    apply();
    dialog.showModal();
    $('quicklook-close').focus();
  });
  $('quicklook-zoom-in').addEventListener('click', () => { zoom = Math.min(zoom + 1, ZOOMS.length - 1); apply(); });
  $('quicklook-zoom-out').addEventListener('click', () => { zoom = Math.max(zoom - 1, 0); apply(); });
  $('quicklook-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => opener.focus());
  dialog.addEventListener('click', (event) => { if (event.target === dialog) dialog.close(); });
}

showFootprint();
quicklookDialog();
