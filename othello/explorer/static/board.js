// Drawing Othello boards in SVG, shared by the page and the notebook widget. a1 top-left: columns a..h across,
// rows 1..8 down, as everywhere in othello-gpt.
export const FILES = "abcdefgh";
export const squareName = (i) => FILES[i % 8] + (Math.floor(i / 8) + 1);
export const SQUARES = Array.from({ length: 64 }, (_, i) => squareName(i));
const NS = "http://www.w3.org/2000/svg";
const DISC = { black: "#111", white: "#f4f4f4" };

export function el(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// 0..1 -> a light-to-dark orange, readable under black text
export function heatColour(v) {
  const t = Math.max(0, Math.min(1, v));
  const r = Math.round(255 - 20 * t), g = Math.round(247 - 150 * t), b = Math.round(236 - 200 * t);
  return `rgb(${r},${g},${b})`;
}

// A colour legend drawn into `svg` at (x, y): `colour(v)` from `lo` to `hi` in a bar `width` wide, the ends and
// the middle written under it, then `label` (what a value means, with its unit). Every heatmap carries one.
export function scaleBar(svg, { lo, hi, colour, label, x = 10, y = 4, width = 220 }) {
  const steps = 22, g = el("g", { class: "scale-bar" }, svg);
  for (let k = 0; k < steps; k++) {
    const v = lo + ((hi - lo) * (k + 0.5)) / steps;
    el("rect", { x: x + (k * width) / steps, y, width: width / steps + 0.5, height: 10, fill: colour(v) }, g);
  }
  [[lo, "start"], [(lo + hi) / 2, "middle"], [hi, "end"]].forEach(([v, anchor], k) => {
    el("text", { x: x + (k * width) / 2, y: y + 22, "font-size": 9, "text-anchor": anchor, "font-family": "sans-serif" }, g).textContent = Number(v).toFixed(2);
  });
  el("text", { x, y: y + 36, "font-size": 9, "font-family": "sans-serif" }, g).textContent = label;
  return g;
}

// Draw a board into `svg` (emptied first). options:
//   discs: {square: "black" | "white" | "empty"}; discOpacity: {square: 0..1}
//   heat: {square: value}, heatMax: the value drawn darkest; text: {square: string}
//   outlined: [square] (blue frames), marked: [square] (red crosses)
//   attr: the attribute that names each square ("data-square" on the main board); extra: {square: {attr: value}}
//   onClick(square), title, size (pixels); heatLabel: with heat, a colour scale under the board says what a
//   shade means (heat values are probabilities, written as percentages)
export function drawBoard(svg, options = {}) {
  const { discs = {}, discOpacity = {}, heat = null, heatMax = 1, text = {}, outlined = [], marked = [],
          attr = "data-square", extra = {}, onClick = null, title = "", size = 320, heatLabel = "" } = options;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const margin = 16, cell = (size - margin) / 8, legend = heat && heatLabel ? 44 : 0;
  svg.setAttribute("viewBox", `0 0 ${size} ${size + (title ? 18 : 0) + legend}`);
  svg.setAttribute("width", size);
  svg.setAttribute("xmlns", NS);
  const top = title ? 18 : 0;
  if (title) el("text", { x: size / 2, y: 13, "text-anchor": "middle", "font-size": 12, "font-family": "sans-serif" }, svg).textContent = title;
  for (let c = 0; c < 8; c++) {
    el("text", { x: margin + (c + 0.5) * cell, y: top + 11, "text-anchor": "middle", "font-size": 10, "font-family": "sans-serif", fill: "#555" }, svg).textContent = FILES[c];
    el("text", { x: 4, y: top + margin + (c + 0.6) * cell, "font-size": 10, "font-family": "sans-serif", fill: "#555" }, svg).textContent = c + 1;
  }
  const frames = new Set(outlined), crosses = new Set(marked);
  SQUARES.forEach((sq, i) => {
    const x = margin + (i % 8) * cell, y = top + margin + Math.floor(i / 8) * cell;
    const g = el("g", { class: "sq" }, svg);
    const occupied = discs[sq] === "black" || discs[sq] === "white";
    // the heat goes on the empty squares (where moves go); occupied ones keep the board's green
    const fill = heat && !occupied ? heatColour((heat[sq] || 0) / (heatMax || 1)) : "#2e7d4f";
    const rect = el("rect", { x, y, width: cell, height: cell, fill, stroke: "#1b4d30", "stroke-width": 1 }, g);
    rect.setAttribute(attr, sq);
    for (const [k, v] of Object.entries(extra[sq] || {})) rect.setAttribute(k, v);
    if (onClick) { rect.style.cursor = "pointer"; rect.addEventListener("click", () => onClick(sq)); }
    const colour = discs[sq];
    if (occupied) {
      el("circle", { cx: x + cell / 2, cy: y + cell / 2, r: cell * 0.38, fill: DISC[colour], stroke: "#000",
                     "stroke-width": 0.8, "fill-opacity": discOpacity[sq] ?? 1, "pointer-events": "none" }, g);
    }
    if (text[sq] !== undefined && text[sq] !== "") {
      el("text", { x: x + cell / 2, y: y + cell / 2 + 4, "text-anchor": "middle", "font-size": Math.max(8, cell / 3.4),
                   "font-family": "sans-serif", fill: colour === "black" ? "#fff" : "#111", "pointer-events": "none" }, g).textContent = text[sq];
    }
    if (frames.has(sq)) el("rect", { x: x + 2, y: y + 2, width: cell - 4, height: cell - 4, fill: "none", stroke: "#0d47a1", "stroke-width": 3, "pointer-events": "none" }, g);
    if (crosses.has(sq)) {
      el("line", { x1: x + 5, y1: y + 5, x2: x + cell - 5, y2: y + cell - 5, stroke: "#d11", "stroke-width": 2.5, "pointer-events": "none" }, g);
      el("line", { x1: x + cell - 5, y1: y + 5, x2: x + 5, y2: y + cell - 5, stroke: "#d11", "stroke-width": 2.5, "pointer-events": "none" }, g);
    }
    el("title", {}, g).textContent = sq + (heat && heat[sq] !== undefined ? `: ${(100 * heat[sq]).toFixed(1)} %` : "");
  });
  if (legend) {
    const hi = 100 * (heatMax || 1);
    scaleBar(svg, { lo: 0, hi, colour: (v) => heatColour(v / hi), label: heatLabel, x: margin, y: top + size + 2,
                    width: Math.min(220, size - margin - 4) });
  }
  return svg;
}

// A head's attention pattern (`/api/attention`'s answer: labels, pattern[query][key]) into `svg`, queries down,
// keys across, each weight shaded against the head's largest, with the colour scale under the grid.
export function drawPattern(svg, a) {
  const n = a.labels.length, cell = Math.max(8, Math.min(22, 600 / n)), pad = 34, legend = 48;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute("width", Math.max(pad + n * cell + 4, 250));
  svg.setAttribute("height", pad + n * cell + 4 + legend);
  svg.setAttribute("xmlns", NS);
  const peak = Math.max(...a.pattern.flat());
  a.labels.forEach((label, i) => {
    el("text", { x: pad - 3, y: pad + (i + 0.7) * cell, "text-anchor": "end", "font-size": Math.min(11, cell) }, svg).textContent = label;
    el("text", { x: pad + (i + 0.5) * cell, y: pad - 4, "text-anchor": "middle", "font-size": Math.min(11, cell),
                 transform: `rotate(-60 ${pad + (i + 0.5) * cell} ${pad - 4})` }, svg).textContent = label;
  });
  a.pattern.forEach((row, q) => row.forEach((w, k) => {
    if (k > q) return;
    const rect = el("rect", { x: pad + k * cell, y: pad + q * cell, width: cell, height: cell, fill: heatColour(w / peak), stroke: "#eee" }, svg);
    rect.dataset.weight = w;
    el("title", {}, rect).textContent = `${a.labels[q]} (move ${q + 1}) attends to ${a.labels[k]} (move ${k + 1}): ${w.toFixed(3)}`;
  }));
  scaleBar(svg, { lo: 0, hi: peak, colour: (v) => heatColour(v / peak), label: "attention weight (softmax probability)",
                  x: 10, y: pad + n * cell + 8 });
  return svg;
}

// A probe's read-out as discs: mine / theirs in the colours of the next mover / the other side.
export function readoutDiscs(read, nextMover) {
  const other = nextMover === "black" ? "white" : "black";
  const out = {};
  for (const [sq, cls] of Object.entries(read)) {
    out[sq] = cls === "mine" ? nextMover : cls === "theirs" ? other : cls === "black" || cls === "white" ? cls : "empty";
  }
  return out;
}

export function percentText(probs) {
  const out = {};
  for (const [sq, p] of Object.entries(probs || {})) if (p >= 0.005) out[sq] = Math.round(100 * p);
  return out;
}
