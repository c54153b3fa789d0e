// The notebook widget (anywidget): the page's board, layer strip, read-out, edit and attention views, drawn from the
// synced `result` and `attention`; the layer and site traits choose the read-out, from Python or by a click on the
// strip.
// board.js is prepended to this file when the widget is built, so drawBoard and friends are in scope here.

function render({ model, el: root }) {
  root.classList.add("othello-explorer");
  const status = document.createElement("div");
  const row = document.createElement("div");
  row.style.display = "flex"; row.style.gap = "1em"; row.style.flexWrap = "wrap";
  const boards = ["board", "probe", "edited", "attention"].map((view) => el("svg", { "data-view": view }));
  boards.forEach((b) => row.appendChild(b));
  const strip = document.createElement("div");  // every layer's read-out, small: click one to draw it large
  strip.style.cssText = "display:flex;gap:4px;flex-wrap:wrap;margin-top:6px";
  root.appendChild(status);
  root.appendChild(row);
  root.appendChild(strip);

  function draw() {
    const r = model.get("result") || {};
    const error = model.get("error");
    if (!r.board) { status.textContent = error || "loading..."; return; }
    const probs = r.probabilities || {};
    const peak = Math.max(0.05, ...Object.values(probs));
    const extra = Object.fromEntries(SQUARES.map((s) => [s, { "data-prob": (probs[s] || 0).toFixed(5) }]));
    drawBoard(boards[0], { discs: r.board, heat: r.probabilities ? probs : null, heatMax: peak, text: percentText(probs),
      heatLabel: "the model's probability of the move (%)",
      outlined: r.legal, extra, size: 300, title: r.game_over ? "game over" : `${r.next_mover} to move`,
      onClick: (sq) => {
        if (!r.legal.includes(sq)) return;
        model.set("moves", (model.get("moves") + " " + sq).trim());
        model.set("edits", []);
        model.save_changes();
      } });
    const layer = model.get("layer");
    const site = model.get("site");
    const rows = (r.probes || []).filter((p) => p.site === site);
    const p = rows.find((q) => q.layer === layer) || rows[rows.length - 1];
    strip.replaceChildren();
    for (const q of rows) {
      const fig = document.createElement("figure");
      fig.dataset.layer = q.layer;
      fig.style.cssText = "margin:0;cursor:pointer;text-align:center;font-size:.75em;border:2px solid " +
        (q === p ? "#ff8c00" : "transparent");
      drawBoard(el("svg", {}, fig), { discs: readoutDiscs(q.read, r.next_mover), marked: q.misread, size: 96,
        attr: "data-mini-square" });
      const cap = document.createElement("figcaption");
      cap.textContent = `layer ${q.layer}: ${(100 * q.accuracy).toFixed(0)} %`;
      fig.appendChild(cap);
      fig.addEventListener("click", () => { model.set("layer", q.layer); model.save_changes(); });
      strip.appendChild(fig);
    }
    if (!p) {
      while (boards[1].firstChild) boards[1].removeChild(boards[1].firstChild);  // no read-out before a move
    } else {
      drawBoard(boards[1], { discs: readoutDiscs(p.read, r.next_mover), marked: p.misread, attr: "data-probe-square", size: 300,
        title: `read-out, layer ${p.layer} (${p.site}): ${(100 * p.accuracy).toFixed(0)} %`,
        onClick: (sq) => {
          if (r.board[sq] === "empty") return;
          const edits = model.get("edits").filter((e) => e.square !== sq);
          model.set("edits", [...edits, { square: sq, op: "flip" }]);
          model.save_changes();
        } });
    }
    const ed = r.edited;
    if (ed) {
      const peakAfter = Math.max(0.05, ...Object.values(ed.probabilities));
      drawBoard(boards[2], { discs: ed.board, heat: ed.probabilities, heatMax: peakAfter, text: percentText(ed.probabilities),
        heatLabel: "probability after the edit (%)",
        outlined: ed.legal, marked: model.get("edits").map((e) => e.square), attr: "data-edited-square", size: 300,
        title: `edited: error ${ed.error_before} -> ${ed.error_after}` });
    } else {
      while (boards[2].firstChild) boards[2].removeChild(boards[2].firstChild);
    }
    const a = model.get("attention");
    if (a && a.labels) drawPattern(boards[3], a);
    else while (boards[3].firstChild) boards[3].removeChild(boards[3].firstChild);
    status.textContent = (error ? `error: ${error}  ` : "") + `moves: ${model.get("moves") || "(none)"}` +
      (model.get("edits").length ? `; edits: ${model.get("edits").map((e) => e.op + " " + e.square).join(", ")}` : "");
  }
  for (const name of ["result", "error", "layer", "site", "attention"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
