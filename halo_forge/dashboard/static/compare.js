// Compare 2–4 runs: curves overlaid, headline figures and the config settings that differ.
import { el, errorBox, fmt, get, qs } from "./api.js";
import { COLORS, lineChart } from "./chart.js";

export function renderCompare(main, params) {
  const ids = (params.get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const input = el("input", { type: "text", class: "search", value: ids.join(", "), placeholder: "2 to 4 run ids, comma-separated" });
  main.append(el("h1", {}, "Compare"), el("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault();
    location.hash = "#/compare?ids=" + input.value.split(",").map((s) => s.trim()).filter(Boolean).join(",");
  } }, input, el("button", { class: "primary", type: "submit" }, "Compare")));
  if (ids.length < 2) { main.append(el("p", { class: "muted" }, "pick 2 to 4 runs (tick them on the Runs page)")); return; }
  const body = el("div", {}, el("p", { class: "muted" }, "loading…"));
  main.append(body);
  Promise.all([get("/runs/compare?" + qs({ ids })), ...ids.map((id) => get(`/runs/${encodeURIComponent(id)}/metrics`))])
    .then(([cmp, ...metrics]) => body.replaceChildren(overlay(metrics), headline(cmp), configDiff(cmp)))
    .catch((e) => body.replaceChildren(errorBox(e)));
}

function overlay(metrics) {
  const names = [...new Set(metrics.flatMap((m) => Object.keys(m.series)))];
  return el("section", { id: "overlay" }, el("h2", {}, "Curves"), el("div", { class: "charts" }, names.map((n) =>
    lineChart(n, metrics.filter((m) => m.series[n]).map((m) => ({ name: m.run_id, points: m.series[n],
      color: COLORS[metrics.indexOf(m) % COLORS.length] }))))));
}

function grid(id, title, ids, rows, differing) {
  return el("section", { id }, el("h2", {}, title), el("table", {},
    el("tr", {}, el("th", {}, ""), ids.map((i) => el("th", { class: "mono" }, i))),
    Object.entries(rows).filter(([k]) => k !== "run_id").map(([k, values]) =>
      el("tr", { class: !differing || differing.has(k) ? "diff" : "" }, el("th", {}, k),
        values.map((v) => el("td", { class: "mono" }, fmt(v)))))));
}

function headline(cmp) {
  return grid("headline", "Headline (differences highlighted)", cmp.runs.map((r) => r.run_id), cmp.headline, new Set(cmp.differing));
}

function configDiff(cmp) {
  const ids = cmp.runs.map((r) => r.run_id);
  if (!Object.keys(cmp.config).length) return el("section", { id: "config-diff" }, el("h2", {}, "Config"), el("p", {}, "identical"));
  return grid("config-diff", "Config settings that differ", ids, cmp.config, null);
}
