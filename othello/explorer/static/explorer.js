// The explorer page: it keeps the position (moves and edits) in the URL and draws what the API returns.
import { drawBoard, drawPattern, el, heatColour, percentText, readoutDiscs, scaleBar, SQUARES } from "./board.js";

const $ = (id) => document.getElementById(id);
const state = { moves: [], redo: [], edits: [], layer: null, info: null, result: null, attention: null, menuSquare: null };

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (!response.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => `${d.loc.slice(-1)[0]}: ${d.msg}`).join("; ") : data.detail;
    throw new Error(detail || `HTTP ${response.status}`);
  }
  return data;
}

function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

// ------------------------------------------------------------------------------------------ the URL holds the game
function writeUrl() {
  const edits = state.edits.map((e) => e.square + ":" + e.op).join(",");
  const hash = "#m=" + state.moves.join("") + (edits ? "&e=" + edits : "");
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function readUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.moves = (params.get("m") || "").match(/[a-h][1-8]/g) || [];
  state.edits = (params.get("e") || "").split(",").filter(Boolean).map((x) => {
    const [square, op] = x.split(":");
    return { square, op: op === "erase" ? "erase" : "flip" };
  });
}

// ------------------------------------------------------------------------------------------------------ requests
function request() {
  return {
    moves: state.moves.join(" "), labelling: $("labelling").value, edits: state.edits, method: $("method").value,
    writes: $("writes").value, layers: $("edit-layers").value || null, scale: Number($("scale").value) || 2,
    positions: Number($("positions").value) || 1,
  };
}

// the last position the server accepted: a refused one (an illegal move, an edit of an empty square) is undone
let good = { moves: [], edits: [] };

// answers can arrive out of order (a gradient edit takes seconds, a plain read milliseconds): only the answer to the
// latest request is drawn, so the page never shows one request's result under another's controls
let asked = 0;

async function refresh() {
  const id = ++asked;
  try {
    const result = await api("/api/analyze", request());
    if (id !== asked) return; // a newer request was sent meanwhile: its answer is the one to draw
    state.result = result;
    showError(null);
    good = { moves: [...state.moves], edits: [...state.edits] };
  } catch (error) {
    if (id !== asked) return;
    showError(error);
    state.moves = [...good.moves];
    state.edits = [...good.edits];
  }
  writeUrl();
  if (state.result) render();
}

// a pasted move list: squares separated by spaces, commas or nothing ("f5 d6", "f5d6"); anything else is refused
// beside the box, naming it, rather than dropped
function pasteMoves() {
  const words = $("paste").value.toLowerCase().split(/[\s,;]+/).filter(Boolean);
  const bad = words.find((w) => !/^([a-h][1-8])+$/.test(w));
  $("paste-error").textContent = bad === undefined ? "" : `"${bad}" is not a move: write squares like f5 d6 c3`;
  if (bad === undefined) play(words.join("").match(/[a-h][1-8]/g) || []);
}

function play(squares, keepRedo = false) {
  state.moves = squares;
  if (!keepRedo) state.redo = [];
  state.edits = [];
  refresh();
}

// -------------------------------------------------------------------------------------------------------- drawing
function render() {
  patchMoves();
  const r = state.result;
  const probs = r.probabilities || {};
  const peak = Math.max(0.05, ...Object.values(probs));
  const extra = {};
  for (const sq of SQUARES) extra[sq] = { "data-prob": (probs[sq] || 0).toFixed(5) };
  drawBoard($("board"), {
    discs: r.board, heat: r.probabilities ? probs : null, heatMax: peak, text: percentText(probs),
    heatLabel: "the model's probability of the move (%)",
    outlined: r.legal, extra, size: 330,
    onClick: (sq) => { if (r.legal.includes(sq)) play([...state.moves, sq]); },
  });
  $("status").textContent = r.game_over ? `game over (${state.moves.length} moves)`
    : `${r.next_mover} to move` + (r.passed ? " (the other side had to pass)" : "") + ` after ${state.moves.length} moves`;
  const list = $("moves");
  list.innerHTML = "";
  const line = [...state.moves, ...[...state.redo].reverse()];
  line.forEach((sq, i) => {
    const span = document.createElement("span");
    span.textContent = (i % 2 === 0 ? `${i / 2 + 1}. ` : "") + sq;
    span.dataset.ply = i + 1;
    span.className = i + 1 === state.moves.length ? "current" : i >= state.moves.length ? "after" : "";
    span.addEventListener("click", () => jump(i + 1, line));
    list.appendChild(span);
    list.appendChild(document.createTextNode(" "));
  });
  const top = $("top-moves");
  top.innerHTML = "";
  for (const t of r.top || []) {
    const li = document.createElement("li");
    li.textContent = `${t.square} ${(100 * t.p).toFixed(1)} %` + (t.legal ? "" : " (illegal)");
    if (!t.legal) li.className = "illegal";
    top.appendChild(li);
  }
  $("top-legal").textContent = r.top ? (r.top_legal ? "the top move is legal" : "the top move is ILLEGAL") : "";
  renderProbes();
  renderEdit();
}

function jump(ply, line) {
  state.redo = line.slice(ply).reverse();
  play(line.slice(0, ply), true);
}

function probeRows() {
  const site = $("site").value;
  return (state.result.probes || []).filter((p) => p.site === site);
}

function renderProbes() {
  const r = state.result, rows = probeRows();
  const strip = $("layer-strip");
  strip.innerHTML = "";
  $("probe-board").innerHTML = "";
  drawBoard($("true-board"), { discs: r.board, size: 300 });
  if (!rows.length) { $("layer-accuracy").textContent = "(no read-out before the first move)"; return; }
  if (state.layer === null || !rows.some((p) => p.layer === state.layer)) state.layer = rows[rows.length - 1].layer;
  for (const p of rows) {
    const fig = document.createElement("figure");
    fig.dataset.layer = p.layer;
    if (p.layer === state.layer) fig.className = "chosen";
    const svg = el("svg", {}, fig);
    drawBoard(svg, { discs: readoutDiscs(p.read, r.next_mover), marked: p.misread, size: 96, attr: "data-mini-square" });
    const cap = document.createElement("figcaption");
    cap.textContent = `layer ${p.layer}: ${(100 * p.accuracy).toFixed(0)} %`;
    fig.appendChild(cap);
    fig.addEventListener("click", () => { state.layer = p.layer; renderProbes(); });
    strip.appendChild(fig);
  }
  const p = rows.find((q) => q.layer === state.layer);
  drawBoard($("probe-board"), {
    discs: readoutDiscs(p.read, r.next_mover), discOpacity: Object.fromEntries(Object.entries(p.confidence).map(([s, c]) => [s, 0.25 + 0.75 * c])),
    marked: p.misread, attr: "data-probe-square", size: 300, title: `layer ${p.layer} (${p.hook})`,
    extra: Object.fromEntries(SQUARES.map((s) => [s, { "data-confidence": p.confidence[s] }])),
    onClick: (sq) => openMenu(sq),
  });
  $("layer-accuracy").textContent = `layer ${p.layer}: ${64 - p.misread.length} of 64 squares read right` +
    ` (by layer: ${rows.map((q) => (100 * q.accuracy).toFixed(0)).join(", ")} %)`;
}

function openMenu(sq) {
  if (!state.result.board[sq] || state.result.board[sq] === "empty") { showError(`${sq} is empty: only a disc can be flipped or erased`); return; }
  state.menuSquare = sq;
  $("edit-square").textContent = `edit ${sq}:`;
  $("edit-menu").hidden = false;
}

function addEdit(op) {
  const sq = state.menuSquare;
  $("edit-menu").hidden = true;
  state.edits = [...state.edits.filter((e) => e.square !== sq), { square: sq, op }];
  refresh();
}

function renderEdit() {
  const list = $("edit-list");
  list.innerHTML = "";
  for (const e of state.edits) {
    const li = document.createElement("li");
    li.textContent = `${e.op} ${e.square} `;
    const remove = document.createElement("button");
    remove.textContent = "remove";
    remove.addEventListener("click", () => { state.edits = state.edits.filter((x) => x !== e); refresh(); });
    li.appendChild(remove);
    list.appendChild(li);
  }
  const ed = state.result.edited;
  $("before-board").innerHTML = "";
  $("edited-board").innerHTML = "";
  if (!ed) { $("edit-error").textContent = state.edits.length ? "" : "click a disc of the read-out to edit the model's board"; return; }
  const peak = Math.max(0.05, ...Object.values(ed.probabilities), ...Object.values(ed.probabilities_before));
  const marked = state.edits.map((e) => e.square);
  drawBoard($("before-board"), { discs: ed.board, heat: ed.probabilities_before, heatMax: peak, text: percentText(ed.probabilities_before),
    heatLabel: "probability before the edit (%)",
                                 outlined: ed.legal, marked, size: 300, attr: "data-before-square" });
  drawBoard($("edited-board"), { discs: ed.board, heat: ed.probabilities, heatMax: peak, text: percentText(ed.probabilities),
    heatLabel: "probability after the edit (%)",
                                 outlined: ed.legal, marked, size: 300, attr: "data-edited-square",
                                 extra: Object.fromEntries(SQUARES.map((s) => [s, { "data-prob": (ed.probabilities[s] || 0).toFixed(5) }])) });
  $("edit-error").textContent = `error against the edited board (Li et al.): ${ed.error_before} before -> ${ed.error_after} after; ${ed.setting}`;
}

// ----------------------------------------------------------------------------------------------------- attention
async function showHeads() {
  if (!state.moves.length) { showError("play a move first"); return; }
  try {
    state.attention = await api("/api/attention", { moves: state.moves.join(" "), layer: Number($("head-layer").value), head: Number($("head-index").value) });
    showError(null);
  } catch (error) { showError(error); return; }
  drawPattern($("attention"), state.attention);
}

async function showClasses() {
  try { state.classes = await api("/api/head-classes"); showError(null); } catch (error) { showError(error); return; }
  const box = $("head-classes");
  box.innerHTML = "";
  box.style.gridTemplateColumns = `repeat(${state.info.n_heads}, 4.5em)`;
  for (const h of state.classes) {
    const d = document.createElement("div");
    d.className = `kind-${h.kind}`;
    d.dataset.head = `${h.layer}.${h.head}`;
    d.textContent = `b${h.block}h${h.head} ${h.kind} ${Math.round(100 * h[h.decided_by])}%`;
    d.title = `block ${h.block} head ${h.head} (${h.hook}): mine ${(100 * h.mine_score).toFixed(0)}%, theirs ${(100 * h.theirs_score).toFixed(0)}%, last ${(100 * h.last_score).toFixed(0)}%, first ${(100 * h.first_score).toFixed(0)}%`;
    d.addEventListener("click", () => { $("head-layer").value = h.layer; $("head-index").value = h.head; showHeads(); });
    box.appendChild(d);
  }
}

// ------------------------------------------------------------------------------------------------------- neurons
function signedColour(v, peak) {
  const t = Math.max(-1, Math.min(1, (v || 0) / (peak || 1)));
  return t >= 0 ? `rgb(${255 - Math.round(80 * t)},${255 - Math.round(200 * t)},${255 - Math.round(200 * t)})`
                : `rgb(${255 + Math.round(200 * t)},${255 + Math.round(150 * t)},255)`;
}

// a board whose squares are coloured by `values` (signed: blue below 0, red above), its colour scale beneath
// saying what a value is (`unit`); grey squares never held the condition
function mapBoard(values, title, signed, unit) {
  const box = document.createElement("figure");
  box.className = "map";
  const svg = el("svg", { class: "board" }, box);
  const finite = Object.values(values).filter((v) => v !== null);
  const peak = Math.max(1e-9, ...finite.map(Math.abs));
  drawBoard(svg, { title, size: 200, attr: "data-map-square" });
  const colour = (v) => (signed ? signedColour(v, peak) : heatColour(v / peak));
  for (const rect of svg.querySelectorAll("rect[data-map-square]")) {
    const v = values[rect.getAttribute("data-map-square")];
    rect.setAttribute("fill", v === null ? "#ccc" : colour(v));
    rect.parentNode.querySelector("title").textContent = `${rect.getAttribute("data-map-square")}: ${v === null ? "never" : v.toFixed(3)}`;
  }
  const legend = el("svg", { width: 200, height: 46, class: "colour-scale" }, box);
  scaleBar(legend, { lo: signed ? -peak : 0, hi: peak, colour, label: unit, width: 180 });
  return box;
}

async function showNeurons() {
  const layer = Number($("neuron-layer").value);
  $("neuron-status").textContent = "computing...";
  try { state.neurons = await api(`/api/neurons?layer=${layer}&sort=${$("neuron-sort").value}&top=50`); showError(null); }
  catch (error) { $("neuron-status").textContent = ""; showError(error); return; }
  const t = state.neurons;
  $("neuron-status").textContent = `${(100 * t.explained_share).toFixed(1)} % of block ${t.layer}'s neurons (${t.hook}) rule-explained (held-out R^2 >= ${t.r2}, trees of depth ${t.depth}, ${t.games} games)`;
  const table = $("neuron-table");
  table.innerHTML = "<tr><th>block</th><th>neuron</th><th>R^2</th><th>in probe span</th><th>rule</th></tr>";
  for (const r of t.rows) {
    const tr = document.createElement("tr");
    tr.dataset.neuron = r.neuron;
    const share = r.subspace_share === undefined ? "" : `${Math.round(100 * r.subspace_share)} %`;
    tr.innerHTML = `<td>${r.block}</td><td>${r.neuron}</td><td>${r.r2.toFixed(2)}</td><td>${share}</td><td></td>`;
    tr.lastChild.textContent = r.rule;
    tr.addEventListener("click", () => showNeuron(r.layer, r.neuron, tr));
    table.appendChild(tr);
  }
}

async function showNeuron(layer, neuron, row) {
  try { state.neuron = await api(`/api/neuron/${layer}/${neuron}`); showError(null); } catch (error) { showError(error); return; }
  for (const tr of $("neuron-table").querySelectorAll("tr")) tr.classList.toggle("chosen", tr === row);
  const p = state.neuron;
  $("neuron-title").textContent = `block ${p.block} neuron ${p.neuron} (${p.hook}): R^2 ${p.r2.toFixed(2)}; rule: ${p.rule}`;
  const maps = $("neuron-maps");
  maps.innerHTML = "";
  for (const g of ["empty", "mine", "theirs", "flipped", "legal"]) maps.appendChild(mapBoard(p.conditional[g], `mean where ${g}`, false, "mean activation where it holds"));
  if (p.weights) {
    maps.appendChild(mapBoard(p.weights.in_mine, "input . mine_dir", true, "cosine of input weights, probe direction"));
    maps.appendChild(mapBoard(p.weights.out_moves, "output -> move logits", true, "logit units per unit activation"));
  }
  const examples = $("neuron-examples");
  examples.innerHTML = "";
  for (const ex of p.examples.slice(0, 6)) {
    const svg = el("svg", { class: "board" });
    const last = ex.moves.split(" ").at(-1);
    drawBoard(svg, { discs: ex.board, outlined: [last], size: 180, title: exampleTitle(ex), attr: "data-example-square",
                     onClick: () => { const line = ex.moves.split(" "); jump(line.length, line); } });
    examples.appendChild(svg);
  }
}

// an example board's caption: its activation, and whose move it is there (the board alone does not say)
function exampleTitle(ex) {
  const mover = { 1: "black to move", 2: "white to move" }[ex.next_mover] || "game over";
  return `${ex.activation.toFixed(2)}; ${mover} after ${ex.moves.split(" ").length} moves`;
}

// --------------------------------------------------------------------------------------------------- SAE features
function setupSae(info) {
  if (!info.sae) return;
  $("sae").hidden = false;
  const s = info.sae;
  $("sae-note").textContent = `${s.arch} SAE, ${s.latents} latents at ${s.hook}` + (s.evaluated ? "; the best latents by board-property F1:" : " (not evaluated: run othello-gpt sae eval for the property maps)");
  const box = $("sae-best");
  box.innerHTML = "";
  for (const r of s.best || []) {
    const b = document.createElement("button");
    b.textContent = `${r.latent}: ${r.property} ${r.f1.toFixed(2)}`;
    b.dataset.latent = r.latent;
    b.addEventListener("click", () => { $("latent").value = r.latent; showLatent(); });
    box.appendChild(b);
  }
}

async function showLatent() {
  try { state.feature = await api(`/api/sae/feature/${Number($("latent").value)}`); showError(null); } catch (error) { showError(error); return; }
  renderFeature(state.feature, `latent ${state.feature.latent}`, "latent");
}

// a dictionary latent's page (an SAE's or a transcoder's): its F1 maps, decoder cosines and top boards, into the
// elements `${where}-title`, `${where}-maps`, `${where}-examples`
function renderFeature(p, name, where) {
  $(`${where}-title`).textContent = `${name} (${p.hook})` + (p.label ? `: best property ${p.label.property}, F1 ${p.label.f1.toFixed(3)}` : "") +
    (p.rule ? `; rule: ${p.rule.text} (depth-${p.rule.depth} tree, held-out R^2 ${p.rule.r2.toFixed(2)})` : "");
  const maps = $(`${where}-maps`);
  maps.innerHTML = "";
  for (const [g, values] of Object.entries(p.f1 || {})) {
    const byName = Object.fromEntries(values.map((v, i) => [SQUARES[i], v]));
    maps.appendChild(mapBoard(byName, `F1 as "${g}"`, false, "F1 of the latent as this property"));
  }
  for (const [d, values] of Object.entries(p.decoder_cosine || {})) {
    maps.appendChild(mapBoard(Object.fromEntries(values.map((v, i) => [SQUARES[i], v])), `decoder . ${d}`, true, "cosine with the probe direction"));
  }
  const examples = $(`${where}-examples`);
  examples.innerHTML = "";
  for (const ex of p.examples) {
    const svg = el("svg", { class: "board" });
    drawBoard(svg, { discs: ex.board, outlined: [ex.moves.split(" ").at(-1)], size: 180, title: exampleTitle(ex),
                     attr: `data-${where}-square`, onClick: () => { const line = ex.moves.split(" "); jump(line.length, line); } });
    examples.appendChild(svg);
  }
}

async function showActive() {
  if (!state.moves.length) { showError("play a move first"); return; }
  try { state.active = await api("/api/sae/active", { moves: state.moves.join(" ") }); showError(null); } catch (error) { showError(error); return; }
  const table = $("active-table");
  table.innerHTML = "<tr><th>position</th><th>move</th><th>most active latents</th></tr>";
  for (const p of state.active.positions) {
    const tr = document.createElement("tr");
    tr.dataset.position = p.position;
    tr.innerHTML = `<td>${p.position}</td><td>${p.move}</td><td></td>`;
    tr.lastChild.textContent = p.latents.map((l) => `${l.latent} (${l.activation.toFixed(2)}${l.property ? ", " + l.property : ""})`).join("; ");
    table.appendChild(tr);
  }
}

// ------------------------------------------------------------------------------------------------------ patching
// only the moves another legal move can replace (keeping the rest of the game legal) are offered; answers for an
// older game are dropped like the analysis's
let patchAsked = 0;

async function patchMoves() {
  const id = ++patchAsked, chosen = $("patch-move").value, select = $("patch-move");
  if (!state.moves.length) { options(select, []); return; }
  try {
    const { moves } = await api("/api/corruptible", { moves: state.moves.join(" ") });
    if (id !== patchAsked) return;
    options(select, moves);
    select.disabled = moves.length === 0;
    if (!moves.length) select.innerHTML = "<option>none: no move has a legal alternative</option>";
    if (moves.includes(chosen)) select.value = chosen;
    $("patch-error").textContent = "";
  } catch (error) { if (id === patchAsked) $("patch-error").textContent = String(error.message || error); }
}

async function showPatch() {
  if (!state.moves.length) { $("patch-error").textContent = "play a game first"; return; }
  $("patch-status").textContent = "patching...";
  $("patch-error").textContent = "";
  const body = { moves: state.moves.join(" "), corrupt: $("patch-move").value };
  if ($("patch-target").value.trim()) body.move = $("patch-target").value.trim();
  try { state.patch = await api("/api/patch", body); }
  catch (error) { $("patch-status").textContent = ""; $("patch-error").textContent = String(error.message || error); return; }
  const p = state.patch;
  $("patch-status").textContent = `${p.replaced.played} (move ${p.replaced.ply}) -> ${p.replaced.instead}; target ${p.move}: ${p.metric} ${p.clean_metric.toFixed(2)} clean, ${p.corrupt_metric.toFixed(2)} corrupted`;
  $("patch-warning").textContent = p.warning ? (p.normalised ? p.warning : `not normalised: ${p.warning}`) : "";
  drawPatchGrids(p);
}

function drawPatchGrids(p) {
  const box = $("patch-grids");
  box.innerHTML = "";
  const [n, T] = p.shape, cell = Math.max(8, Math.min(18, 560 / T)), pad = 40;
  // one colour scale for every grid of the answer, so that equal colours mean equal effects
  const peak = Math.max(p.normalised ? 1 : 0, ...Object.values(p.grids).flat(2).map(Math.abs)) || 1;
  for (const [site, grid] of Object.entries(p.grids)) {
    const svg = el("svg", { width: pad + T * cell + 4, height: pad + n * cell + 22, "data-site": site });
    el("text", { x: pad, y: 12, "font-size": 12 }, svg).textContent = site;
    p.labels.forEach((label, i) => {
      el("text", { x: pad + (i + 0.5) * cell, y: pad - 4, "font-size": Math.min(10, cell), "text-anchor": "start",
                   transform: `rotate(-60 ${pad + (i + 0.5) * cell} ${pad - 4})` }, svg).textContent = label;
    });
    grid.forEach((row, L) => {
      el("text", { x: pad - 4, y: pad + (L + 0.7) * cell, "text-anchor": "end", "font-size": 10 }, svg).textContent = `B${L}`;
      row.forEach((v, i) => {
        const r = el("rect", { x: pad + i * cell, y: pad + L * cell, width: cell, height: cell, fill: signedColour(v, peak), stroke: "#eee" }, svg);
        el("title", {}, r).textContent = `${site}, block ${L}, position ${i} (${p.labels[i]}): ${v.toFixed(3)}`;
      });
    });
    box.appendChild(svg);
  }
  box.appendChild(colourScale(peak, p.scale));
}

// a legend for a signed heatmap: the colours from -peak to +peak, with what a value means
// ------------------------------------------------------------------------------------------------------- graph
const NODE_FILL = { latent: "#fb8c00", error: "#9e9e9e", embedding: "#43a047", logit: "#1e88e5" };
let graphAsked = 0;

async function showGraph() {
  const id = ++graphAsked;
  $("graph-status").textContent = "building the graph ...";
  $("graph-error").textContent = "";
  const move = $("graph-move").value.trim();
  try {
    const g = await api("/api/graph", { moves: state.moves.join(" "), move: move || null });
    if (id !== graphAsked) return; // a newer graph was asked for meanwhile
    state.graph = g;
    state.ablated = new Set();
    $("graph-status").textContent = `built in ${g.seconds.toFixed(1)} s`;
    drawGraph(g);
  } catch (error) {
    if (id !== graphAsked) return;
    $("graph-status").textContent = "";
    $("graph-error").textContent = error.message;
  }
}

// where each kept node is drawn: rows top to bottom (the embeddings, blocks 0.., the logit), columns the positions;
// the nodes of one cell side by side, most influential first
function graphPlaces(g, geometry) {
  const { left, top, colW, rowH, rows } = geometry;
  const row = (n) => (n.kind === "embedding" ? 0 : n.kind === "logit" ? rows - 1 : n.block + 1);
  const cells = {};
  for (const n of g.nodes) (cells[`${row(n)}:${n.position}`] ||= []).push(n);
  const at = {};
  for (const list of Object.values(cells)) {
    list.sort((a, b) => b.influence - a.influence);
    const spread = Math.min(colW - 10, 7 * (list.length - 1));
    list.forEach((n, k) => {
      const dx = list.length > 1 ? -spread / 2 + (k * spread) / (list.length - 1) : 0;
      const dy = list.length > 1 ? (k % 2 ? 7 : -7) : 0;
      at[n.id] = [left + (n.position + 0.5) * colW + dx, top + (row(n) + 0.5) * rowH + dy];
    });
  }
  return at;
}

function drawGraph(g) {
  const T = g.moves.split(" ").length, rows = g.blocks + 2;
  const geometry = { left: 64, top: 30, colW: 46, rowH: 48, rows };
  $("graph-scores").textContent = `logit of ${g.move} after ${T} moves: ${g.logit.toFixed(2)} (p ${(100 * g.probability).toFixed(1)} %); ` +
    `replacement score ${g.replacement.toFixed(3)}, completeness score ${g.completeness.toFixed(3)}; ${g.nodes.length} of ${g.all_nodes} ` +
    `nodes kept, the ${g.edges.length} strongest of ${g.kept_edges} kept edges drawn` + (g.labelled ? "" : "; no board labels (run othello-gpt transcoders eval)");
  const svg = $("graph-svg");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const width = geometry.left + T * geometry.colW + 10, height = geometry.top + rows * geometry.rowH + 40;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  const at = graphPlaces(g, geometry);
  for (let r = 0; r < rows; r++) {
    const name = r === 0 ? "embeddings" : r === rows - 1 ? "logit" : `block ${r - 1}`;
    el("text", { x: 4, y: geometry.top + (r + 0.5) * geometry.rowH + 4, "font-size": 10 }, svg).textContent = name;
  }
  g.moves.split(" ").forEach((m, p) => {
    el("text", { x: geometry.left + (p + 0.5) * geometry.colW, y: 14, "font-size": 10, "text-anchor": "middle" }, svg).textContent = m;
  });
  g.supernodes.forEach((s, k) => {
    const points = s.nodes.map((i) => at[i]).filter(Boolean);
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const box = el("rect", { x: Math.min(...xs) - 9, y: Math.min(...ys) - 9, width: Math.max(...xs) - Math.min(...xs) + 18,
      height: Math.max(...ys) - Math.min(...ys) + 18, fill: "#fff8e1", stroke: "#8d6e63", "stroke-dasharray": "3 2", rx: 4 }, svg);
    box.dataset.supernode = k;
    el("title", {}, box).textContent = `supernode: ${s.name} (${s.nodes.length} latents)`;
  });
  const peakW = Math.max(1e-9, ...g.edges.map((e) => Math.abs(e.weight)));
  for (const e of g.edges) {
    const [a, b] = [at[e.source], at[e.target]];
    if (!a || !b) continue;
    const line = el("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: e.weight > 0 ? "#c62828" : "#1565c0",
      "stroke-width": 0.3 + (3.5 * Math.abs(e.weight)) / peakW, "stroke-opacity": 0.45 }, svg);
    line.dataset.weight = e.weight;
    el("title", {}, line).textContent = `${graphNode(e.source).label} -> ${graphNode(e.target).label}: ${e.weight.toFixed(3)} ` +
      (graphNode(e.target).kind === "logit" ? "logit units" : "units of the target's pre-activation");
  }
  const peakI = Math.max(1e-9, ...g.nodes.filter((n) => n.kind !== "logit").map((n) => n.influence));
  for (const n of g.nodes) {
    const [x, y] = at[n.id], r = n.kind === "logit" ? 8 : 2.5 + 7 * Math.sqrt(n.influence / peakI);
    const shape = n.kind === "error" ? el("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r }, svg) : el("circle", { cx: x, cy: y, r }, svg);
    shape.setAttribute("fill", NODE_FILL[n.kind]);
    shape.setAttribute("stroke", "#333");
    shape.setAttribute("stroke-width", 0.5);
    shape.dataset.node = n.id;
    shape.dataset.kind = n.kind;
    el("title", {}, shape).textContent = `${n.label}; influence on the logit ${n.influence.toFixed(4)}`;
    if (n.kind === "latent") {
      shape.style.cursor = "pointer";
      shape.addEventListener("click", () => showGraphLatent(n.block, n.latent));
    }
  }
  el("text", { x: 4, y: height - 22, "font-size": 9 }, svg).textContent =
    `node area: influence on the logit (largest ${peakI.toFixed(3)}, a share of the row-normalised effects); ` +
    `edge width: |direct effect| (largest ${peakW.toFixed(2)}: logit units into the logit, pre-activation units into a latent)`;
  drawSupernodeCards(g);
}

function graphNode(id) { return state.graph.nodes.find((n) => n.id === id) || { label: String(id), kind: "" }; }

function drawSupernodeCards(g) {
  const box = $("graph-supernodes");
  box.innerHTML = "";
  $("graph-ablation").hidden = true;
  if (!g.supernodes.length) {
    box.textContent = g.labelled ? "no supernodes: no two kept latents at one position share a board label" : "";
    return;
  }
  g.supernodes.forEach((s, k) => {
    const card = document.createElement("div");
    card.className = "supernode-card";
    card.dataset.supernode = k;
    const title = document.createElement("div");
    title.textContent = `${s.name} (${s.nodes.length} latents; position ${s.position}, the move ${s.move})`;
    card.appendChild(title);
    const svg = el("svg", { class: "board" }, card);
    drawBoard(svg, { discs: g.board, outlined: [s.square], size: 110, attr: "data-supernode-square", title: s.property });
    const button = document.createElement("button");
    button.textContent = "ablate";
    button.dataset.ablate = k;
    button.addEventListener("click", () => toggleAblation(k, card));
    card.appendChild(button);
    box.appendChild(card);
  });
}

let ablateAsked = 0;

async function toggleAblation(k, card) {
  const g = state.graph;
  if (state.ablated.has(k)) state.ablated.delete(k); else state.ablated.add(k);
  card.classList.toggle("ablated", state.ablated.has(k));
  const chosen = [...state.ablated].map((i) => g.supernodes[i]);
  if (!chosen.length) { $("graph-ablation").hidden = true; return; }
  const latents = chosen.flatMap((s) => s.nodes.map((i) => { const n = graphNode(i); return [n.block, n.position, n.latent]; }));
  const id = ++ablateAsked;
  try {
    const r = await api("/api/graph/ablate", { moves: g.moves, latents });
    if (id !== ablateAsked) return;
    state.ablation = r;
    $("graph-ablation").hidden = false;
    drawBoard($("graph-ablated"), { discs: g.board, heat: r.after, heatMax: Math.max(...Object.values(r.after)),
      text: percentText(r.after), size: 260, attr: "data-ablated-square", title: "after the ablation", heatLabel: "next-move probability (%)" });
    const pct = (p) => `${(100 * (p || 0)).toFixed(1)} %`;
    $("graph-ablated-caption").textContent = `${chosen.map((s) => s.name).join(", ")} ablated (${r.ablated} latents set to 0): ` +
      `${g.move} ${pct(r.before[g.move])} -> ${pct(r.after[g.move])}`;
  } catch (error) {
    if (id === ablateAsked) $("graph-error").textContent = error.message;
  }
}

async function showGraphLatent(block, latent) {
  try {
    state.graphLatent = await api(`/api/graph/latent/${block}/${latent}`);
    $("graph-error").textContent = "";
  } catch (error) { $("graph-error").textContent = error.message; return; }
  renderFeature(state.graphLatent, `block ${block} transcoder latent ${latent}`, "graph-latent");
}

function setupGraph(info) {
  if (!info.graph) {
    $("show-graph").disabled = true;
    $("graph-note").textContent = "No transcoders were given, so there is no graph. Make a set with othello-gpt " +
      "transcoders train (and transcoders eval for board labels), then start the explorer with --transcoders DIR.";
    return;
  }
  $("show-graph").addEventListener("click", showGraph);
}

function colourScale(peak, label) {
  const svg = el("svg", { width: 240, height: 46, class: "colour-scale" });
  scaleBar(svg, { lo: -peak, hi: peak, colour: (v) => signedColour(v, peak), label });
  return svg;
}

// ------------------------------------------------------------------------------------------------------ downloads
const VIEWS = { board: () => [$("board"), state.result], predict: () => [$("board"), state.result && { top: state.result.top, probabilities: state.result.probabilities }],
  probe: () => [$("probe-board"), state.result && state.result.probes], edit: () => [$("edited-board"), state.result && state.result.edited],
  attention: () => [$("attention"), state.attention], neuron: () => [$("neuron-maps").querySelector("svg"), state.neuron],
  patch: () => [$("patch-grids").querySelector("svg"), state.patch], feature: () => [$("latent-maps").querySelector("svg"), state.feature],
  graph: () => [$("graph-svg"), state.graph] };

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function download(view, kind) {
  const [svg, data] = VIEWS[view]();
  if (!data || (!svg && kind !== "json")) { showError("nothing drawn there yet"); return; }
  const stem = `othello-${view}-${state.moves.length}`;
  if (kind === "json") return save(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }), stem + ".json");
  const text = new XMLSerializer().serializeToString(svg);
  if (kind === "svg") return save(new Blob([text], { type: "image/svg+xml" }), stem + ".svg");
  const image = new Image();
  image.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = image.width * 2; canvas.height = image.height * 2;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => save(blob, stem + ".png"));
  };
  image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
}

// ---------------------------------------------------------------------------------------------------------- setup
function options(select, values) { select.innerHTML = values.map((v) => `<option>${v}</option>`).join(""); }

async function start() {
  const info = state.info = await api("/api/info");
  $("model-name").textContent = `${info.model}: ${info.n_layers} layers, ${info.n_heads} heads`;
  options($("labelling"), info.labellings);
  options($("site"), info.sites);
  options($("head-layer"), [...Array(info.n_layers).keys()]);
  options($("head-index"), [...Array(info.n_heads).keys()]);
  $("method").value = info.defaults.method;
  $("writes").value = info.defaults.writes;
  $("edit-layers").value = info.defaults.layers;
  $("scale").value = info.defaults.scale;
  $("positions").value = info.defaults.positions;
  if (info.games) { $("game-loader").hidden = false; $("game-count").textContent = `of ${info.games}`; }
  for (const span of document.querySelectorAll(".downloads")) {
    for (const kind of ["svg", "png", "json"]) {
      const b = document.createElement("button");
      b.textContent = kind.toUpperCase();
      b.dataset.download = kind;
      b.addEventListener("click", () => download(span.dataset.view, kind));
      span.appendChild(b);
    }
  }
  $("undo").addEventListener("click", () => { if (state.moves.length) { state.redo.push(state.moves.at(-1)); play(state.moves.slice(0, -1), true); } });
  $("redo").addEventListener("click", () => { if (state.redo.length) { const sq = state.redo.pop(); play([...state.moves, sq], true); } });
  $("reset").addEventListener("click", () => play([]));
  $("random").addEventListener("click", async () => {
    try { const g = await api("/api/random"); const line = g.moves.split(" "); jump(Math.min(20, line.length), line); } catch (e) { showError(e); }
  });
  $("paste-go").addEventListener("click", pasteMoves);
  $("load-game").addEventListener("click", async () => {
    try { const g = await api(`/api/game/${Number($("game-index").value)}`); const line = g.moves.split(" "); jump(line.length, line); } catch (e) { showError(e); }
  });
  $("edit-flip").addEventListener("click", () => addEdit("flip"));
  $("edit-erase").addEventListener("click", () => addEdit("erase"));
  $("edit-cancel").addEventListener("click", () => { $("edit-menu").hidden = true; });
  $("clear-edits").addEventListener("click", () => { state.edits = []; refresh(); });
  $("show-heads").addEventListener("click", showHeads);
  $("show-classes").addEventListener("click", showClasses);
  options($("neuron-layer"), [...Array(info.n_layers).keys()]);
  $("show-neurons").addEventListener("click", showNeurons);
  $("show-patch").addEventListener("click", showPatch);
  $("show-latent").addEventListener("click", showLatent);
  $("show-active").addEventListener("click", showActive);
  setupSae(info);
  setupGraph(info);
  for (const id of ["labelling", "method", "writes", "edit-layers", "scale", "positions"]) $(id).addEventListener("change", refresh);
  $("site").addEventListener("change", renderProbes);
  window.addEventListener("hashchange", () => { readUrl(); refresh(); });
  readUrl();
  await refresh();
  document.body.dataset.ready = "1";
}

start().catch(showError);
