// The live what-if page of cjmsim serve. It builds the budget controls from /api/state, sends an edit to
// /api/simulate when a control is released, and shows the preview's numbers, then the full size's, as the
// server streams them (one JSON object a line). Every number arrives formatted by the server; every text
// from the scenario (plan, campaign, segment, channel names) is placed with textContent, never as markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const client = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
  let state = null; // /api/state
  let plan = null; // the plan edited (an entry of state.plans)
  let values = {}; // campaign number -> weekly budget shown
  let running = null; // the AbortController of the edit in flight
  let lastPayload = null;

  // ---------------------------------------------------------------------------------------------
  // small helpers: elements with text, numbers typed by hand

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const grouping = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const money = (x) => grouping.format(Math.round(x)) + " " + state.currency;

  function compact(x) {
    const a = Math.abs(x);
    for (const [d, s] of [[1e9, "bn"], [1e6, "M"], [1e3, "k"]]) {
      if (a >= d) return (x / d).toPrecision(3).replace(/\.?0+$/, "") + s;
    }
    return String(Math.round(x));
  }

  function setStatus(kind, text) {
    const s = $("status");
    s.dataset.state = kind;
    s.textContent = text;
  }

  // ---------------------------------------------------------------------------------------------
  // controls

  function planById(id) {
    return state.plans.find((p) => p.id === id);
  }

  function groupKey(c, by) {
    return by === "channel" ? c.channel_name : c.segments.join(", ");
  }

  function changed() {
    const out = {};
    for (const c of plan.campaigns) {
      if (c.editable && values[c.campaign] !== c.weekly) out[c.campaign] = values[c.campaign];
    }
    return out;
  }

  function updateTotals() {
    let total = 0;
    for (const c of plan.campaigns) if (c.editable) total += values[c.campaign];
    const ref = planById($("reference").value);
    $("totals").textContent =
      "Weekly budget of the edited plan: " + money(total) + " (was " + money(plan.weekly) + "; " +
      ref.name + ": " + money(ref.weekly) + ")";
    for (const fs of document.querySelectorAll("#groups fieldset")) {
      let sum = 0;
      for (const row of fs.querySelectorAll(".campaign[data-campaign]")) {
        const k = Number(row.dataset.campaign);
        if (k in values) sum += values[k];
      }
      fs.querySelector("legend .sub").textContent = " · " + money(sum) + " a week";
    }
    for (const row of document.querySelectorAll(".campaign[data-campaign]")) {
      const c = plan.campaigns[Number(row.dataset.campaign) - 1];
      row.classList.toggle("changed", c.editable && values[c.campaign] !== c.weekly);
    }
  }

  function control(c) {
    const label = el("div", { class: "label" }, el("strong", {}, c.name));
    const where = c.editable
      ? [c.channel_name, c.segments.join(", "), c.stages.join(", "), c.weeks].filter(Boolean).join(" · ")
      : c.channel_name + " · " + c.note;
    label.append(el("small", {}, where));
    const row = el("div", { class: "campaign" + (c.editable ? "" : " trigger") }, label);
    if (!c.editable) return row;
    row.dataset.campaign = String(c.campaign);
    const id = "budget-" + c.campaign;
    const slider = el("input", {
      type: "range", min: "0", max: String(c.max), step: "any", value: String(values[c.campaign]),
      "aria-label": "Weekly budget of " + c.name,
    });
    const exact = el("input", {
      type: "number", id: id, min: "0", max: String(state.limit), step: "any",
      value: String(values[c.campaign]), "aria-label": "Weekly budget of " + c.name + ", " + state.currency,
    });
    const reset = el("button", { type: "button", class: "reset", title: "Back to the plan's budget" }, "\u21BA");
    slider.addEventListener("input", () => {
      values[c.campaign] = Number(slider.value);
      exact.value = String(Math.round(values[c.campaign]));
      row.classList.remove("invalid");
      updateTotals();
    });
    slider.addEventListener("change", () => {
      values[c.campaign] = Number(slider.value);
      updateTotals();
      simulate();
    });
    exact.addEventListener("change", () => {
      const v = Number(exact.value);
      if (exact.value.trim() === "" || !Number.isFinite(v) || v < 0 || v > state.limit) {
        row.classList.add("invalid");
        setStatus("error", "A weekly budget is a number from 0 to " + money(state.limit) + ".");
        return;
      }
      row.classList.remove("invalid");
      values[c.campaign] = v;
      if (v > Number(slider.max)) slider.max = String(v);
      slider.value = String(v);
      updateTotals();
      simulate();
    });
    reset.addEventListener("click", () => {
      values[c.campaign] = c.weekly;
      slider.value = String(c.weekly);
      exact.value = String(c.weekly);
      row.classList.remove("invalid");
      updateTotals();
      simulate();
    });
    row.append(slider, exact, reset);
    return row;
  }

  function buildControls() {
    const by = document.querySelector("input[name=group]:checked").value;
    const groups = new Map();
    for (const c of plan.campaigns) {
      const k = groupKey(c, by);
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(c);
    }
    const box = $("groups");
    box.replaceChildren();
    for (const [name, camps] of groups) {
      const legend = el("legend", {}, name, el("span", { class: "sub" }, ""));
      box.append(el("fieldset", {}, legend, ...camps.map(control)));
    }
    updateTotals();
  }

  function choosePlan(id) {
    plan = planById(id);
    values = {};
    for (const c of plan.campaigns) if (c.editable) values[c.campaign] = c.weekly;
    $("save-title").value = "";
    buildControls();
  }

  // ---------------------------------------------------------------------------------------------
  // results

  function cell(tag, text, cls, small) {
    const node = el(tag, cls ? { class: cls } : {}, text);
    if (small) node.append(el("small", {}, small));
    return node;
  }

  function ratioCell(text) {
    // "×1.204 [1.087, 1.320]": the ratio, its CI on a second line
    const at = (text || "").indexOf(" [");
    return at < 0 ? cell("td", text || "\u2013", "") : cell("td", text.slice(0, at), "", text.slice(at + 1));
  }

  function showKpis(p) {
    $("kpi-ref").textContent = p.reference.name;
    $("kpi-edit").textContent = p.edited.name;
    const body = $("kpis").querySelector("tbody");
    body.replaceChildren();
    for (const k of p.kpis) {
      const head = el("th", { scope: "row" }, k.label);
      if (k.unit) head.append(el("span", { class: "unit" }, ", " + k.unit));
      body.append(
        el("tr", { "data-metric": k.metric },
          head,
          cell("td", k.reference.value, "", k.reference.ci),
          cell("td", k.edited.value, "", k.edited.ci),
          cell("td", k.diff.value, k.diff.state, k.diff.ci || k.said),
          ratioCell(k.diff.ratio))
      );
    }
  }

  function showFunnel(p) {
    const svg = $("funnel");
    const rows = p.funnel.stages.length, plans = p.funnel.plans;
    const colours = [p.reference.colour, p.edited.colour, p.no_marketing_colour];
    const bar = 16, gap = 14, left = 150, width = 760, right = 150;
    const rowH = plans.length * bar + gap;
    svg.replaceChildren();
    svg.setAttribute("viewBox", "0 0 " + (left + width + right) + " " + (rows * rowH + 30));
    p.funnel.stages.forEach((stage, i) => {
      const y0 = 8 + i * rowH;
      svg.append(svgEl("text", { x: 0, y: y0 + (plans.length * bar) / 2 + 4 }, stage));
      const top = Math.max(1, ...plans.map((q) => q.values[i]));
      plans.forEach((q, j) => {
        const w = (q.values[i] / top) * width;
        svg.append(svgEl("rect", { x: left, y: y0 + j * bar, width: Math.max(w, 0), height: bar - 3, fill: colours[j] }));
        svg.append(svgEl("text", { x: left + w + 6, y: y0 + j * bar + bar - 5 }, q.texts[i]));
      });
    });
    let x = left;
    plans.forEach((q, j) => {
      const y = rows * rowH + 20;
      svg.append(svgEl("rect", { x: x, y: y - 10, width: 12, height: 12, fill: colours[j] }));
      const t = svgEl("text", { x: x + 16, y: y }, q.name);
      svg.append(t);
      x += 26 + Math.min(260, 7 * q.name.length);
    });
  }

  function showCumulative(p) {
    const svg = $("cumulative");
    const W = 900, H = 340, L = 70, R = 20, T = 14, B = 64;
    svg.replaceChildren();
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    const series = p.cumulative.plans;
    const maxX = Math.max(1, ...series.map((s) => s.spend[s.spend.length - 1] || 0));
    const maxY = Math.max(1, ...series.map((s) => s.orders[s.orders.length - 1] || 0));
    const sx = (v) => L + (v / maxX) * (W - L - R), sy = (v) => H - B - (v / maxY) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const vy = (maxY * i) / 4, vx = (maxX * i) / 4;
      svg.append(svgEl("line", { class: "grid", x1: L, x2: W - R, y1: sy(vy), y2: sy(vy) }));
      svg.append(svgEl("text", { x: L - 6, y: sy(vy) + 4, "text-anchor": "end" }, compact(vy)));
      svg.append(svgEl("text", { x: sx(vx), y: H - B + 16, "text-anchor": "middle" }, compact(vx)));
    }
    svg.append(svgEl("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.append(svgEl("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    svg.append(svgEl("text", { x: (L + W - R) / 2, y: H - B + 34, "text-anchor": "middle" }, "Cumulative spend, " + p.currency));
    svg.append(svgEl("text", { x: L + 8, y: T + 10 }, "Orders, cumulative"));
    const colours = [p.reference.colour, p.edited.colour];
    series.forEach((s, j) => {
      const pts = ["M", sx(0), sy(0)];
      s.spend.forEach((v, i) => pts.push("L", sx(v).toFixed(1), sy(s.orders[i]).toFixed(1)));
      svg.append(svgEl("path", { d: pts.join(" "), fill: "none", stroke: colours[j], "stroke-width": 2.5 }));
      const y = H - 12;
      svg.append(svgEl("rect", { x: L + j * 300, y: y - 10, width: 12, height: 12, fill: colours[j] }));
      svg.append(svgEl("text", { x: L + j * 300 + 16, y: y }, s.name));
    });
  }

  function showBudget(p) {
    const b = p.budget;
    const table = $("budget");
    table.querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "Segment"), ...b.stages.map((s) => el("th", { class: "r" }, s))));
    const body = table.querySelector("tbody");
    body.replaceChildren();
    const top = Math.max(1, ...b.values.flat());
    b.segments.forEach((seg, i) => {
      const tr = el("tr", {}, el("th", { scope: "row" }, seg));
      b.values[i].forEach((v, j) => {
        const td = cell("td", b.texts[i][j], "", "ref " + b.reference[i][j]);
        const a = v > 0 ? 0.08 + 0.5 * (v / top) : 0;
        td.style.background = "rgba(29, 78, 137, " + a.toFixed(3) + ")";
        tr.append(td);
      });
      body.append(tr);
    });
    $("budget-intro").textContent =
      "Spend of " + b.edited_name + " by segment and by the stage of the people its ads reached, " + p.currency +
      " over the horizon; below each amount, " + b.reference_name + "'s.";
  }

  function show(p) {
    lastPayload = p;
    $("headline").textContent = p.headline;
    const notes = $("notes");
    notes.replaceChildren(...p.notes.map((n) => el("li", {}, n)));
    showKpis(p);
    showFunnel(p);
    showCumulative(p);
    showBudget(p);
    $("reproduce").textContent = p.reproduce.replace(" NAME ", " " + ($("save-name").value || "NAME") + " ");
  }

  // ---------------------------------------------------------------------------------------------
  // talking to the server

  function editBody(extra) {
    return JSON.stringify(Object.assign({ plan: plan.id, reference: $("reference").value, budgets: changed(), client: client }, extra || {}));
  }

  async function failure(res) {
    try {
      const j = await res.json();
      return j.error || res.statusText;
    } catch (e) {
      return res.status + " " + res.statusText;
    }
  }

  async function simulate() {
    if (running) running.abort();
    const mine = new AbortController();
    running = mine;
    const full = state.sizes[state.sizes.length - 1];
    setStatus("updating", "Updating: " + (state.sizes.length > 1 ? "preview at " + state.sizes[0].text + ", then " : "") + full.text + "…");
    let res;
    try {
      res = await fetch("/api/simulate", { method: "POST", headers: { "content-type": "application/json" }, body: editBody(), signal: mine.signal });
    } catch (e) {
      if (mine.signal.aborted) return;
      setStatus("error", "The server did not answer: " + e);
      return;
    }
    if (!res.ok) {
      setStatus("error", await failure(res));
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) received(JSON.parse(line), mine, full);
        }
      }
    } catch (e) {
      if (!mine.signal.aborted) setStatus("error", "The update failed: " + e);
    }
  }

  function received(p, mine, full) {
    if (running !== mine || p.stage === "obsolete") return;
    if (p.stage === "error") {
      setStatus("error", p.error);
      return;
    }
    show(p);
    if (p.stage === "preview") {
      setStatus("updating", "Preview (" + p.size.text + ", " + p.elapsed + ") shown; updating to " + full.text + "…");
    } else {
      setStatus("done", "Up to date: " + p.size.text + ", seed " + state.seed + " (" + p.elapsed + ")");
      running = null;
    }
  }

  async function download(url, extra, fallback) {
    const name = $("save-name").value.trim();
    const title = $("save-title").value.trim();
    $("save-status").textContent = url === "/api/report" ? "Writing the report (a few seconds)…" : "";
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: editBody({ name: name, title: title }) });
    if (!res.ok) {
      $("save-status").textContent = await failure(res);
      return null;
    }
    const blob = await res.blob();
    const m = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "");
    if (extra !== "text") {
      const a = el("a", { href: URL.createObjectURL(blob), download: m ? m[1] : fallback });
      document.body.append(a);
      a.click();
      a.remove();
      $("save-status").textContent = "Saved " + (m ? m[1] : fallback) + ".";
    }
    return blob.text();
  }

  async function planText(save) {
    const text = await download("/api/plan", save ? "file" : "text", "plan.toml");
    if (text !== null) $("plan-text").value = await text;
    return text === null ? null : await text;
  }

  async function copyPlan() {
    const text = await planText(false);
    if (text === null) return;
    const area = $("plan-text");
    area.select();
    try {
      await navigator.clipboard.writeText(text);
      $("save-status").textContent = "Copied the block.";
    } catch (e) {
      $("save-status").textContent = "Selected the block below: copy it with Ctrl+C.";
    }
  }

  // ---------------------------------------------------------------------------------------------
  // start

  async function start() {
    const res = await fetch("/api/state");
    if (!res.ok) {
      setStatus("error", await failure(res));
      return;
    }
    state = await res.json();
    $("description").textContent = state.description;
    for (const id of ["plan", "reference"]) {
      const sel = $(id);
      for (const p of state.plans) sel.append(el("option", { value: p.id }, p.name));
      sel.value = id === "plan" ? state.plan : state.reference;
    }
    $("plan").addEventListener("change", () => { choosePlan($("plan").value); simulate(); });
    $("reference").addEventListener("change", () => { updateTotals(); simulate(); });
    for (const r of document.querySelectorAll("input[name=group]")) r.addEventListener("change", buildControls);
    $("reset").addEventListener("click", () => { choosePlan(plan.id); simulate(); });
    $("download-plan").addEventListener("click", () => planText(true));
    $("copy-plan").addEventListener("click", copyPlan);
    $("download-report").addEventListener("click", () => download("/api/report", "file", "report.html"));
    $("save-name").addEventListener("input", () => { if (lastPayload) show(lastPayload); });
    choosePlan(state.plan);
    simulate();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
