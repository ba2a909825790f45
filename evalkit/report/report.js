// evalkit report: draws the charts and runs the per-sample browser. Every text from a run is put on
// the page with textContent, never as markup, so whatever a model wrote stays text.
"use strict";

const PAGE = 50;
const state = { data: null, shown: [], page: 0, selected: null };

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function loadData() {
  const packed = document.getElementById("evalkit-data").textContent.trim();
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

function drawCharts() {
  if (typeof Plotly === "undefined") return;
  for (const spec of document.querySelectorAll("script.chart-spec")) {
    const target = document.getElementById(spec.dataset.target);
    try {
      const figure = JSON.parse(spec.textContent);
      Plotly.newPlot(target, figure.data, figure.layout, { displaylogo: false, responsive: true });
    } catch (error) {  // one broken chart must not take the page down
      target.textContent = `this chart could not be drawn: ${error}`;
      console.error(error);
    }
  }
}

// --- filters --------------------------------------------------------------------------------------

function options(select, values) {
  const keep = select.value;
  select.replaceChildren(select.options[0]);
  for (const value of values) select.append(el("option", { value, text: value }));
  select.value = values.includes(keep) ? keep : "";
}

function setupFilters() {
  const tasks = [...new Set(state.data.samples.map((s) => s.t))];
  options(document.getElementById("filter-task"), tasks);
  const genres = () => {
    const task = document.getElementById("filter-task").value;
    options(document.getElementById("filter-genre"),
      [...new Set(state.data.samples.filter((s) => !task || s.t === task).map((s) => s.g))].sort());
  };
  genres();
  document.getElementById("filter-task").addEventListener("change", () => { genres(); applyFilters(); });
  for (const id of ["filter-genre", "filter-changed", "filter-violation", "filter-judge", "filter-error"]) {
    document.getElementById(id).addEventListener("change", applyFilters);
  }
  document.getElementById("filter-text").addEventListener("input", applyFilters);
  document.getElementById("page-prev").addEventListener("click", () => { state.page -= 1; renderRows(); });
  document.getElementById("page-next").addEventListener("click", () => { state.page += 1; renderRows(); });
}

function applyFilters() {
  const task = document.getElementById("filter-task").value;
  const genre = document.getElementById("filter-genre").value;
  const flags = ["changed", "violation", "judge", "error"].filter((f) => document.getElementById(`filter-${f}`).checked);
  const text = document.getElementById("filter-text").value.trim().toLowerCase();
  state.shown = state.data.samples.filter((s) =>
    (!task || s.t === task) && (!genre || s.g === genre) && flags.every((f) => s.f.includes(f)) &&
    (!text || searchable(s).includes(text)));
  state.page = 0;
  renderRows();
}

function searchable(sample) {
  if (sample._text === undefined) {
    sample._text = [sample.id, sample.p, sample.target || "", ...sample.r.flatMap((r) => (r ? r.o : []))]
      .join("\n").toLowerCase();
  }
  return sample._text;
}

// --- the list -------------------------------------------------------------------------------------

function scoreCell(sample, run) {
  if (!run) return el("td", { className: "num muted", text: "–" });
  if (run.e) return el("td", { className: "num error-text", text: "error" });
  const value = run.s[sample.m];
  if (value === null || value === undefined) return el("td", { className: "num muted", text: "–" });
  const cls = value === 1 ? "score-1" : value === 0 ? "score-0" : "";
  return el("td", { className: `num ${cls}`, text: Number.isInteger(value) ? String(value) : value.toFixed(3) });
}

function renderRows() {
  const pages = Math.max(1, Math.ceil(state.shown.length / PAGE));
  state.page = Math.min(Math.max(state.page, 0), pages - 1);
  const start = state.page * PAGE;
  const body = document.getElementById("sample-rows");
  body.replaceChildren();
  for (const sample of state.shown.slice(start, start + PAGE)) {
    const row = el("tr", { className: "sample-row", "data-key": key(sample) }, [
      el("td", { text: sample.t }), el("td", { text: sample.c ? `${sample.id} #${sample.c}` : sample.id }),
      el("td", { text: sample.g }),
      ...sample.r.map((run) => scoreCell(sample, run)),
      el("td", {}, sample.f.map((f) => el("span", { className: `flag ${f}`, text: f }))),
    ]);
    if (state.selected === sample) row.classList.add("selected");
    row.addEventListener("click", () => select(sample));
    body.append(row);
  }
  document.getElementById("sample-count").textContent =
    `${state.shown.length} of ${state.data.samples.length} samples`;
  document.getElementById("page-label").textContent = `page ${state.page + 1} of ${pages}`;
  document.getElementById("page-prev").disabled = state.page === 0;
  document.getElementById("page-next").disabled = state.page >= pages - 1;
}

function key(sample) { return `${sample.t}|${sample.id}|${sample.c}`; }

// --- one sample -----------------------------------------------------------------------------------

function select(sample) {
  state.selected = sample;
  for (const row of document.querySelectorAll("#sample-rows tr")) {
    row.classList.toggle("selected", row.dataset.key === key(sample));
  }
  const detail = document.getElementById("sample-detail");
  detail.hidden = false;
  detail.replaceChildren(
    el("h3", { text: `${sample.t} · ${sample.id}${sample.c ? ` (choice ${sample.c})` : ""} · ${sample.g}` }),
    el("h4", { text: sample.ps === null ? "prompt" : `prompt (as ${state.data.labels[sample.ps]} sent it)` }),
    el("pre", { className: "text prompt", text: sample.p }),
    ...(sample.target !== null ? [el("h4", { text: "target" }), el("pre", { className: "text", text: sample.target })] : []),
    el("div", { className: "run-columns" }, sample.r.map((run, i) => runColumn(run, i, sample))),
    diffView(sample),
  );
  detail.scrollIntoView({ block: "nearest" });
}

function runColumn(run, i, sample) {
  const label = state.data.labels[i];
  const head = el("h4", {}, [el("span", { className: `badge run-${i}`, text: label }), ` ${state.data.runs[i]}`]);
  if (!run) return el("div", { className: "run-column" }, [head, el("p", { className: "muted", text: "not in this run" })]);
  const parts = [head];
  if (run.e) parts.push(el("p", { className: "error-text", text: `request error: ${run.e}` }));
  run.o.forEach((text, turn) => {
    if (run.o.length > 1) parts.push(el("h4", { text: run.oh[turn] }));
    parts.push(el("pre", { className: "text output", text }));
  });
  const kv = (pairs) => el("div", { className: "kv" }, pairs.flatMap(([k, v]) => [el("span", { text: k }), el("span", { text: v })]));
  parts.push(el("h4", { text: "scores" }), kv([["answer", run.a === null ? "–" : run.a],
    ["format ok", run.fo === null ? "–" : String(run.fo)],
    ...Object.entries(run.s).map(([name, value]) => [name, value === null ? "–" : String(value)])]));
  if (Object.keys(run.d).length) parts.push(el("h4", { text: "what the scorer found" }), kv(Object.entries(run.d)));
  for (const judgment of run.j) {
    parts.push(el("h4", { text: `judge: ${judgment.head}` }), el("pre", { className: "text judge", text: judgment.text }));
  }
  return el("div", { className: "run-column" }, parts);
}

// --- word-level diff of two runs' outputs ---------------------------------------------------------

// Words: runs of spaces, of kanji, of hiragana, of katakana, of Latin letters and digits; any other character alone.
const TOKEN = /\s+|\p{Script=Han}+|\p{Script=Hiragana}+|[\p{Script=Katakana}ー]+|[\p{Script=Latin}\p{N}_]+|\p{L}+|./gsu;

function tokens(text) { return text.match(TOKEN) || []; }

function diff(a, b) {
  // Longest common subsequence over tokens; lines instead when the texts are long.
  if (a.length * b.length > 4e6) return diff(a.join("").split(/(?<=\n)/), b.join("").split(/(?<=\n)/));
  const n = a.length, m = b.length;
  const table = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i * (m + 1) + j] = a[i] === b[j] ? table[(i + 1) * (m + 1) + j + 1] + 1
        : Math.max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push(["same", a[i]]); i++; j++; }
    else if (table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1]) out.push(["del", a[i++]]);
    else out.push(["ins", b[j++]]);
  }
  while (i < n) out.push(["del", a[i++]]);
  while (j < m) out.push(["ins", b[j++]]);
  return out;
}

function diffView(sample) {
  const present = sample.r.map((run, i) => (run ? i : -1)).filter((i) => i >= 0);
  if (present.length < 2) return el("div");
  const left = el("select", { id: "diff-left" }), right = el("select", { id: "diff-right" });
  for (const i of present) {
    left.append(el("option", { value: String(i), text: state.data.labels[i] }));
    right.append(el("option", { value: String(i), text: state.data.labels[i] }));
  }
  right.value = String(present[1]);
  const body = el("pre", { className: "text diff", id: "diff-body" });
  const render = () => {
    const a = sample.r[Number(left.value)].o.join("\n\n"), b = sample.r[Number(right.value)].o.join("\n\n");
    body.replaceChildren(...diff(tokens(a), tokens(b)).map(([kind, text]) =>
      kind === "same" ? document.createTextNode(text) : el(kind, { text })));
  };
  left.addEventListener("change", render);
  right.addEventListener("change", render);
  render();
  return el("div", {}, [el("h4", {}, ["word diff of the outputs: ", left, " → ", right]), body]);
}

// --- start ----------------------------------------------------------------------------------------

(async function main() {
  drawCharts();
  state.data = await loadData();
  const head = document.getElementById("sample-head");
  state.data.labels.forEach((label, i) => head.append(el("th", { className: "num" }, [
    el("span", { className: `badge run-${i}`, text: label })])));
  head.append(el("th", { text: "flags" }));
  setupFilters();
  applyFilters();
  document.body.dataset.ready = "true";
})().catch((error) => {
  document.getElementById("sample-count").textContent = `the sample data could not be read: ${error}`;
  throw error;
});
