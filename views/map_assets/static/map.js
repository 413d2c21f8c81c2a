// The map page of a view: asks the hub for the view and its layers with the person's token,
// and draws them with Leaflet. It holds no data of its own and trusts none of what it draws:
// every name and value from the hub goes into the page as text, never as HTML.
"use strict";

const TOKEN_KEY = "gridhub.token";
const PURPOSE_KEY = "gridhub.purpose";
/** Up to this many area labels are drawn on the map at once; past it they show on hover. */
const MAX_PERMANENT_LABELS = 300;
const SVG_NS = "http://www.w3.org/2000/svg";
/** A count layer (people counted per area) is shaded in up to this many classes. */
const MAX_CLASSES = 5;
/** The shade of a count layer's lowest and highest class (fill opacity). */
const LIGHTEST = 0.12;
const DARKEST = 0.62;
/** What the page drew last, so drawing again (after a new token) starts from a clean map. */
let drawnLayers = [];
/** The count layers drawn: their Leaflet layer, the view's layer and its features. */
let countLayers = [];
/** The one label per area that shows every count layer's count there. */
let countLabels = null;
/** The scale bar, added once the map shows a place (before, it has nothing to measure). */
let scale = null;

const MAP_VIEW_QUERY = `query MapPage($code: String!) {
  mapView(code: $code) {
    code name department description version purpose extent
    layers { code name source style { colour size labelField } }
  }
}`;

const page = document.getElementById("page");
const viewCode = page.dataset.viewCode;
const statusBox = document.getElementById("status");
const problemBox = document.getElementById("problem");
const tokenForm = document.getElementById("token-form");
const legend = document.getElementById("legend");
const legendItems = document.getElementById("legend-items");
const forgetButton = document.getElementById("forget-token");

/** The hub refused or failed a request; `code` is its `extensions.code` where it gave one. */
class HubError extends Error {
  constructor(message, code, status, extensions = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.extensions = extensions;
  }
}

// --- the token -----------------------------------------------------------------------------

/** sessionStorage where the browser allows it, else this page's memory. */
const store = (() => {
  const memory = new Map();
  try {
    sessionStorage.setItem("gridhub.probe", "1");
    sessionStorage.removeItem("gridhub.probe");
    return sessionStorage;
  } catch {
    return {
      getItem: (key) => memory.get(key) ?? null,
      setItem: (key, value) => memory.set(key, String(value)),
      removeItem: (key) => memory.delete(key),
    };
  }
})();

/** Take a token given in the address (`#token=...&purpose=...`) into the session, and remove
 * it from the address bar so it is not bookmarked, shared or kept in the history. */
function takeTokenFromAddress() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token");
  if (!token) {
    return;
  }
  store.setItem(TOKEN_KEY, token.trim());
  const purpose = fragment.get("purpose");
  if (purpose) {
    store.setItem(PURPOSE_KEY, purpose.trim());
  } else {
    store.removeItem(PURPOSE_KEY);
  }
  history.replaceState(history.state, "", window.location.pathname + window.location.search);
}

function authorization() {
  const headers = { Authorization: `Bearer ${store.getItem(TOKEN_KEY)}` };
  const purpose = store.getItem(PURPOSE_KEY);
  if (purpose) {
    headers["X-Access-Purpose"] = purpose;
  }
  return headers;
}

function forgetToken() {
  store.removeItem(TOKEN_KEY);
  store.removeItem(PURPOSE_KEY);
}

// --- talking to the hub ----------------------------------------------------------------------

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** The first of a GraphQL-shaped answer's errors as a HubError, or null if it has none. */
function firstError(body, status) {
  const error = body && Array.isArray(body.errors) ? body.errors[0] : null;
  if (!error) {
    return null;
  }
  const extensions = error.extensions || {};
  return new HubError(String(error.message), extensions.code || null, status, extensions);
}

async function send(url, init) {
  try {
    return await fetch(url, { ...init, credentials: "omit", cache: "no-store" });
  } catch (error) {
    throw new HubError(`The hub could not be reached (${error.message}).`, "NETWORK", 0);
  }
}

/** Turn a refused answer into a HubError carrying the hub's own message and code. */
async function refusal(response) {
  const error = firstError(await readJson(response), response.status);
  if (error) {
    return error;
  }
  const code = response.status === 401 ? "UNAUTHENTICATED" : null;
  return new HubError(`The hub answered HTTP ${response.status}.`, code, response.status);
}

async function loadView() {
  const response = await send("/graphql", {
    method: "POST",
    headers: { ...authorization(), "Content-Type": "application/json" },
    body: JSON.stringify({
      query: MAP_VIEW_QUERY,
      variables: { code: viewCode },
      operationName: "MapPage",
    }),
  });
  if (!response.ok) {
    throw await refusal(response);
  }
  const body = await readJson(response);
  const view = body && body.data ? body.data.mapView : null;
  if (!view) {
    const error = firstError(body, response.status);
    if (error) {
      throw error;
    }
    throw new HubError(
      `There is no view “${viewCode}”, or it is not one you may see.`,
      "NOT_FOUND",
      response.status,
    );
  }
  return view;
}

async function loadLayer(layer) {
  const url =
    `/views/${encodeURIComponent(viewCode)}.geojson` +
    `?layer=${encodeURIComponent(layer.code)}`;
  const response = await send(url, {
    headers: { ...authorization(), Accept: "application/geo+json" },
  });
  if (!response.ok) {
    throw await refusal(response);
  }
  const collection = await readJson(response);
  if (!collection || collection.type !== "FeatureCollection") {
    throw new HubError(`Layer “${layer.name}” did not come back as GeoJSON.`, null, 200);
  }
  return collection;
}

// --- what the page shows --------------------------------------------------------------------

function setState(state, message) {
  page.dataset.state = state;
  statusBox.textContent = message;
}

/** Say what went wrong; `retry` draws the map again (after a purpose is declared). */
function showProblem(error, retry) {
  problemBox.hidden = false;
  problemBox.replaceChildren();
  problemBox.dataset.code = error.code || "";
  const heading = document.createElement("strong");
  const detail = document.createElement("p");
  if (error.status === 401 || error.code === "UNAUTHENTICATED") {
    heading.textContent = "Your token was not accepted.";
    detail.textContent =
      "It may have expired, or belong to another hub. Paste a new one below.";
  } else if (error.code === "PURPOSE_REQUIRED") {
    heading.textContent = "This view is shown only for a declared purpose.";
    detail.textContent = error.message;
    const purpose = error.extensions.purpose;
    if (typeof purpose === "string" && purpose !== store.getItem(PURPOSE_KEY)) {
      const declare = document.createElement("button");
      declare.type = "button";
      declare.textContent = `Declare the purpose “${purpose}” and show the map`;
      declare.addEventListener("click", () => {
        store.setItem(PURPOSE_KEY, purpose);
        retry();
      });
      problemBox.append(heading, detail, declare);
      return;
    }
  } else if (error.status === 403 || error.code === "FORBIDDEN") {
    heading.textContent = "You may not see this view.";
    detail.textContent = error.message;
  } else if (error.code === "NOT_FOUND") {
    heading.textContent = "No such view.";
    detail.textContent = error.message;
  } else {
    heading.textContent = "The map could not be drawn.";
    detail.textContent = error.code ? `${error.message} (${error.code})` : error.message;
  }
  problemBox.append(heading, detail);
}

function askForToken() {
  setState("need-token", "A token is needed to see this view.");
  tokenForm.hidden = false;
  forgetButton.hidden = true;
  document.getElementById("token-input").focus();
}

/** Any value as the text a person reads: masked values stay exactly as the hub sent them. */
function asText(value) {
  if (value === null || value === undefined) {
    return "—";
  }
  if (typeof value === "object") {
    return JSON.stringify(value);
  }
  return String(value);
}

function popupContent(feature, layer) {
  const table = document.createElement("table");
  table.className = "gh-properties";
  const caption = table.createCaption();
  caption.textContent = layer.name;
  const rows = [["id", feature.id], ...Object.entries(feature.properties || {})];
  for (const [name, value] of rows) {
    const row = table.insertRow();
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = name;
    const cell = row.insertCell();
    cell.textContent = asText(value);
    row.prepend(head);
  }
  return table;
}

function isArea(feature) {
  const kind = feature.geometry && feature.geometry.type;
  return kind === "Polygon" || kind === "MultiPolygon";
}

function swatch(style, area) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS(SVG_NS, area ? "rect" : "circle");
  if (area) {
    shape.setAttribute("x", "2");
    shape.setAttribute("y", "2");
    shape.setAttribute("width", "14");
    shape.setAttribute("height", "14");
    shape.setAttribute("fill-opacity", "0.15");
  } else {
    shape.setAttribute("cx", "9");
    shape.setAttribute("cy", "9");
    shape.setAttribute("r", String(Math.max(2, Math.min(style.size, 7))));
    shape.setAttribute("fill-opacity", "0.7");
  }
  shape.setAttribute("fill", style.colour);
  shape.setAttribute("stroke", style.colour);
  shape.setAttribute("stroke-width", "2");
  svg.append(shape);
  return svg;
}

function countText(drawn) {
  return `${drawn.toLocaleString()} ${drawn === 1 ? "feature" : "features"}`;
}

function legendEntry(map, layer, index, drawnLayer, drawn, area, classes) {
  const item = document.createElement("li");
  item.dataset.layerCode = layer.code;
  item.dataset.layerIndex = String(index);
  item.dataset.featureCount = String(drawn);
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.checked = true;
  toggle.id = `layer-toggle-${index}`;
  toggle.addEventListener("change", () => {
    if (toggle.checked) {
      drawnLayer.addTo(map);
    } else {
      drawnLayer.remove();
    }
    drawCountLabels(map);
  });
  const label = document.createElement("label");
  label.htmlFor = toggle.id;
  const name = document.createElement("span");
  name.className = "layer-name";
  name.textContent = layer.name;
  const count = document.createElement("span");
  count.className = "layer-count";
  count.textContent = countText(drawn);
  label.append(swatch(layer.style, area), name, count);
  item.append(toggle, label);
  if (classes) {
    item.append(classLegend(layer, classes));
  }
  return item;
}

/** The classes of a count layer, lightest first: a swatch of each shade and its range. */
function classLegend(layer, classes) {
  const list = document.createElement("ul");
  list.className = "gh-classes";
  classes.forEach((range, index) => {
    const entry = document.createElement("li");
    entry.className = "gh-class";
    entry.dataset.low = String(range.low);
    entry.dataset.high = String(range.high);
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("width", "14");
    svg.setAttribute("height", "14");
    svg.setAttribute("aria-hidden", "true");
    const shape = document.createElementNS(SVG_NS, "rect");
    shape.setAttribute("width", "14");
    shape.setAttribute("height", "14");
    shape.setAttribute("fill", layer.style.colour);
    shape.setAttribute("fill-opacity", String(shade(index, classes.length)));
    shape.setAttribute("stroke", layer.style.colour);
    svg.append(shape);
    const text = document.createElement("span");
    text.textContent =
      range.low === range.high
        ? range.low.toLocaleString()
        : `${range.low.toLocaleString()}–${range.high.toLocaleString()}`;
    entry.append(svg, text);
    list.append(entry);
  });
  return list;
}

function labelOf(feature, layer) {
  const field = layer.style.labelField;
  if (!field || !feature.properties) {
    return null;
  }
  const value = feature.properties[field];
  return value === null || value === undefined ? null : String(value);
}

function countOf(feature) {
  const count = feature.properties ? feature.properties.count : undefined;
  return typeof count === "number" && Number.isFinite(count) ? count : null;
}

/** Up to MAX_CLASSES ranges of whole numbers that split the counts into groups of about the
 * same size (quantiles), lowest first; each range is `{low, high}`, both included. */
function countClasses(counts) {
  const sorted = [...counts].sort((a, b) => a - b);
  const highs = [];
  for (let k = 1; k <= MAX_CLASSES; k += 1) {
    const high = sorted[Math.min(sorted.length - 1, Math.ceil((k * sorted.length) / MAX_CLASSES) - 1)];
    if (highs.length === 0 || high > highs[highs.length - 1]) {
      highs.push(high);
    }
  }
  let low = sorted[0];
  return highs.map((high) => {
    const range = { low, high };
    low = Math.floor(high) + 1;
    return range;
  });
}

function classOf(count, classes) {
  const found = classes.findIndex((range) => count <= range.high);
  return found === -1 ? classes.length - 1 : found;
}

function shade(index, total) {
  return total <= 1 ? DARKEST : LIGHTEST + ((DARKEST - LIGHTEST) * index) / (total - 1);
}

/** One view layer as a Leaflet layer: areas in the pane under the points, styled alike. A
 * layer of counts per area is shaded by class (a choropleth); its counts are written by
 * drawCountLabels, one label per area for every count layer, so they never overlap. */
function drawLayer(collection, layer, index) {
  const style = layer.style;
  const area = collection.features.length > 0 && collection.features.every(isArea);
  const counted = area && collection.features.every((feature) => countOf(feature) !== null);
  const classes = counted ? countClasses(collection.features.map(countOf)) : null;
  const permanentLabels = area && !counted && collection.features.length <= MAX_PERMANENT_LABELS;
  const className = `gh-feature gh-layer-${index}`;
  let drawn = 0;
  const drawnLayer = L.geoJSON(collection, {
    pane: area ? "areas" : "overlayPane",
    style: (feature) => {
      if (classes) {
        const found = classOf(countOf(feature), classes);
        return {
          className: `${className} gh-class-${found}`,
          color: style.colour,
          weight: 1,
          fillColor: style.colour,
          fillOpacity: shade(found, classes.length),
        };
      }
      return {
        className,
        color: style.colour,
        weight: area ? Math.max(1, Math.min(style.size, 4)) : 1.5,
        fillColor: style.colour,
        fillOpacity: area ? 0.08 : 0.7,
      };
    },
    pointToLayer: (_feature, latlng) =>
      L.circleMarker(latlng, { radius: Math.max(2, style.size), className }),
    onEachFeature: (feature, leafletLayer) => {
      drawn += 1;
      leafletLayer.bindPopup(() => popupContent(feature, layer), { maxWidth: 360 });
      const label = labelOf(feature, layer);
      if (label !== null) {
        const text = () => document.createTextNode(label);
        leafletLayer.bindTooltip(text, {
          permanent: permanentLabels,
          direction: permanentLabels ? "center" : "top",
          className: permanentLabels ? "gh-label" : "gh-hover",
        });
      }
    },
  });
  return { drawnLayer, drawn, area, classes };
}

/** The key an area is known by across layers: its code, else its outline's centre. */
function areaKey(feature, leafletLayer) {
  const code = feature.properties ? feature.properties.code : undefined;
  if (typeof code === "string" && code !== "") {
    return `code:${code}`;
  }
  const centre = leafletLayer.getBounds().getCenter();
  return `at:${centre.lat.toFixed(6)},${centre.lng.toFixed(6)}`;
}

/** One label per area with the count of every count layer shown there, each in its layer's
 * colour: two layers of one grid never write on top of each other. Redrawn when a layer is
 * switched on or off. */
function drawCountLabels(map) {
  if (countLabels) {
    countLabels.remove();
  }
  countLabels = L.layerGroup();
  const byArea = new Map();
  countLayers.forEach(({ drawnLayer, layer }) => {
    if (!map.hasLayer(drawnLayer)) {
      return;
    }
    drawnLayer.eachLayer((leafletLayer) => {
      const feature = leafletLayer.feature;
      const key = areaKey(feature, leafletLayer);
      if (!byArea.has(key)) {
        byArea.set(key, { centre: leafletLayer.getBounds().getCenter(), counts: [] });
      }
      byArea.get(key).counts.push({ layer, count: countOf(feature) });
    });
  });
  if (byArea.size > MAX_PERMANENT_LABELS) {
    countLabels.addTo(map);
    return; // too many to read at once: the counts show on hover
  }
  byArea.forEach(({ centre, counts }, key) => {
    const box = document.createElement("div");
    box.className = "gh-count-box";
    box.dataset.area = key;
    counts.forEach(({ layer, count }) => {
      const line = document.createElement("span");
      line.className = "gh-count-line";
      line.dataset.layerCode = layer.code;
      line.textContent = count.toLocaleString();
      line.title = layer.name;
      line.style.color = layer.style.colour;
      box.append(line);
    });
    const icon = L.divIcon({ className: "gh-count-label", html: box, iconSize: null });
    countLabels.addLayer(
      L.marker(centre, { icon, pane: "labels", interactive: false, keyboard: false }),
    );
  });
  countLabels.addTo(map);
  declutter();
}

function overlaps(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/** Hide every permanent label that would cover one already shown (counts first, then names),
 * so none is drawn over another at any zoom; a hidden one still shows on hover. */
function declutter() {
  const labels = [
    ...document.querySelectorAll(".gh-count-box"),
    ...document.querySelectorAll(".leaflet-tooltip.gh-label"),
  ];
  const kept = [];
  labels.forEach((label) => {
    label.classList.remove("gh-label-hidden");
    const box = label.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) {
      return;
    }
    if (kept.some((other) => overlaps(box, other))) {
      label.classList.add("gh-label-hidden");
    } else {
      kept.push(box);
    }
  });
}

function boundsOfExtent(extent) {
  if (!Array.isArray(extent) || extent.length !== 4) {
    return null;
  }
  const [minLon, minLat, maxLon, maxLat] = extent;
  return L.latLngBounds([minLat, minLon], [maxLat, maxLon]);
}

function showViewHeading(view) {
  document.title = `${view.name} · gridhub map`;
  const heading = document.getElementById("view-name");
  heading.textContent = view.name;
  const description = document.getElementById("view-description");
  const parts = [view.description, view.department && `Department: ${view.department}`];
  description.textContent = parts.filter(Boolean).join(" · ");
  description.hidden = description.textContent === "";
}

/** Take what the page drew before off the map and out of the legend. */
function clearMap() {
  legendItems.replaceChildren();
  legend.hidden = true;
  drawnLayers.forEach((drawnLayer) => drawnLayer.remove());
  drawnLayers = [];
  countLayers = [];
  if (countLabels) {
    countLabels.remove();
    countLabels = null;
  }
}

async function drawView(map) {
  setState("loading", "Loading the view…");
  const view = await loadView();
  showViewHeading(view);
  const extent = boundsOfExtent(view.extent);
  if (extent) {
    map.fitBounds(extent, { padding: [12, 12] });
  } else {
    map.setView([0, 0], 2);
  }
  if (!scale) {
    scale = L.control.scale({ imperial: false }).addTo(map);
  }
  setState("loading", `Loading ${view.layers.length} layers…`);
  const collections = await Promise.all(view.layers.map(loadLayer));
  clearMap();
  const everything = L.latLngBounds([]);
  let anyArea = false;
  view.layers.forEach((layer, index) => {
    const { drawnLayer, drawn, area, classes } = drawLayer(collections[index], layer, index);
    drawnLayer.addTo(map);
    drawnLayers.push(drawnLayer);
    if (classes) {
      countLayers.push({ drawnLayer, layer });
    }
    anyArea = anyArea || area;
    if (drawn > 0) {
      everything.extend(drawnLayer.getBounds());
    }
    legendItems.append(legendEntry(map, layer, index, drawnLayer, drawn, area, classes));
  });
  if (!anyArea && extent) {
    // No grid or street layer to stand for a base map: outline the viewer's area instead.
    const outline = L.rectangle(extent, { pane: "areas", className: "gh-extent", fill: false });
    outline.bindTooltip("Your area", { direction: "top" }).addTo(map);
    drawnLayers.push(outline);
  }
  if (!extent && everything.isValid()) {
    map.fitBounds(everything, { padding: [12, 12] });
  }
  drawCountLabels(map);
  legend.hidden = view.layers.length === 0;
  forgetButton.hidden = false;
  const total = collections.reduce((sum, c) => sum + c.features.length, 0);
  const purpose = store.getItem(PURPOSE_KEY);
  const declared = purpose ? ` Purpose declared: ${purpose}.` : "";
  const drawnText = `${view.layers.length} layers, ${total.toLocaleString()} features drawn.`;
  setState("ready", drawnText + declared);
}

async function start(map) {
  problemBox.hidden = true;
  if (!store.getItem(TOKEN_KEY)) {
    askForToken();
    return;
  }
  tokenForm.hidden = true;
  try {
    await drawView(map);
  } catch (error) {
    const refused = error instanceof HubError ? error : new HubError(String(error), null, 0);
    clearMap();
    showProblem(refused, () => start(map));
    if (refused.status === 401 || refused.code === "UNAUTHENTICATED") {
      forgetToken();
      askForToken();
      page.dataset.state = "error";
    } else {
      forgetButton.hidden = false;
      setState("error", "The map could not be drawn.");
    }
  }
}

function main() {
  takeTokenFromAddress();
  const map = L.map("map", { attributionControl: false, zoomSnap: 0.25, keyboard: true });
  map.createPane("areas").style.zIndex = "350";
  map.createPane("labels").style.zIndex = "640";
  map.on("zoomend moveend", declutter);
  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(tokenForm);
    store.setItem(TOKEN_KEY, String(data.get("token")).trim());
    const purpose = String(data.get("purpose") || "").trim();
    if (purpose) {
      store.setItem(PURPOSE_KEY, purpose);
    } else {
      store.removeItem(PURPOSE_KEY);
    }
    tokenForm.reset();
    start(map);
  });
  forgetButton.addEventListener("click", () => {
    forgetToken();
    window.location.reload();
  });
  start(map);
}

main();
