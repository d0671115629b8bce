// Runs: search box, facets, sort, paging; rows link to the run page; pick runs to compare.
import { answer, badge, el, errorBox, fmt, get, qs } from "./api.js";

const FACETS = [["modality", "modality"], ["model_name", "model"], ["verdict", "verdict"], ["status", "status"],
                ["dataset", "dataset"]];
const MULTI = new Set(["modality", "verdict", "status"]);  // comma lists; model and dataset take one value
const SORTS = ["started_at", "eval_after", "eval_delta", "final_train_loss", "duration_seconds", "total_train_steps",
               "run_id", "modality", "model_name"];

export function renderRuns(main, params) {
  const state = Object.fromEntries(params.entries());
  const selected = new Set();
  const go = (changes) => {
    const next = { ...state, ...changes };
    if (!("offset" in changes)) next.offset = 0;
    location.hash = "#/runs?" + qs(next);
  };
  const text = el("input", { type: "text", class: "search", placeholder: "search runs: words in ids, models, datasets, reasons…",
                             value: state.text || "", id: "search" });
  const where = el("input", { type: "text", placeholder: "figure filter, e.g. eval_after>=0.5", value: state.where || "", size: 26 });
  const form = el("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); go({ text: text.value, where: where.value }); } },
    text, where, el("button", { class: "primary", type: "submit" }, "Search"));
  const sort = el("select", { id: "sort", onchange: () => go({ sort: sort.value }) },
    SORTS.map((s) => el("option", { value: s, selected: (state.sort || "started_at") === s }, s)));
  const desc = state.desc !== "0";
  const order = el("button", { onclick: () => go({ desc: desc ? "0" : "1" }) }, desc ? "descending" : "ascending");
  const compare = el("button", { disabled: true, id: "compare-selected",
                                 onclick: () => { location.hash = "#/compare?ids=" + [...selected].join(","); } }, "Compare selected");
  const facets = el("aside", {});
  const results = el("section", {}, el("p", { class: "muted" }, "searching…"));
  main.append(el("h1", {}, "Runs"), form, el("div", { class: "toolbar" }, "sort by", sort, order, compare),
              el("div", { class: "layout" }, facets, results));

  const limit = Number(state.limit || 20), offset = Number(state.offset || 0);
  const query = { text: state.text, where: state.where, sort: state.sort, descending: desc, limit, offset,
                  modality: state.modality, verdict: state.verdict, status: state.status, model: state.model_name,
                  dataset: state.dataset };
  const first = window.haloFirstSearch;  // started by index.html for the default page
  window.haloFirstSearch = null;
  const search = first && ![...params.keys()].length ? first.then(answer) : get("/runs/search?" + qs(query));
  search.then((res) => {
    facets.replaceChildren(...FACETS.map(([key, label]) => facetBox(key, label, res.facets[key] || {}, state, go)));
    results.replaceChildren(table(res, selected, compare), pager(res, go));
    performance.mark("halo:runs-rendered");  // bench/dashboard_search.py reads it
  }).catch((e) => results.replaceChildren(errorBox(e)));
}

function facetBox(key, label, counts, state, go) {
  const chosen = new Set((state[key] || "").split(",").filter(Boolean));
  const toggle = (value) => {
    if (MULTI.has(key)) {
      chosen.has(value) ? chosen.delete(value) : chosen.add(value);
      go({ [key]: [...chosen].join(",") });
    } else go({ [key]: chosen.has(value) ? "" : value });
  };
  const entries = Object.entries(counts);
  return el("div", { class: "facet", "data-facet": key }, el("h3", {}, label),
    entries.length ? entries.map(([value, n]) => el("label", { title: value },
      el("span", {}, el("input", { type: "checkbox", checked: chosen.has(value), onchange: () => toggle(value) }), " ", value),
      el("span", { class: "n" }, n))) : el("div", { class: "muted small" }, "none"));
}

function table(res, selected, compare) {
  if (!res.rows.length) return el("p", { class: "muted" }, res.total ? "no runs on this page" : "no runs match");
  const tick = (id, box) => {
    box.checked ? selected.add(id) : selected.delete(id);
    compare.disabled = selected.size < 2 || selected.size > 4;
  };
  return el("table", { id: "runs-table" },
    el("tr", {}, ["", "run", "modality", "model", "dataset", "verdict", "started", "loss", "held-out"].map((h) => el("th", {}, h))),
    res.rows.map((r) => {
      const box = el("input", { type: "checkbox", "data-run": r.run_id });
      box.addEventListener("change", () => tick(r.run_id, box));
      const held = r.eval_metric ? `${fmt(r.eval_before)} → ${fmt(r.eval_after)}` : "-";
      return el("tr", { "data-run": r.run_id },
        el("td", {}, box),
        el("td", {}, el("a", { href: "#/run/" + encodeURIComponent(r.run_id), class: "mono" }, r.run_id)),
        el("td", {}, r.modality || "-"), el("td", {}, r.model_name || "-"), el("td", { class: "small" }, r.dataset || "-"),
        el("td", {}, badge(r.verdict), r.status === "failed" ? " (failed)" : ""),
        el("td", { class: "small" }, (r.started_at || "-").slice(0, 16).replace("T", " ")),
        el("td", { class: "num" }, fmt(r.final_train_loss)), el("td", { class: "num", title: r.eval_metric || "" }, held));
    }));
}

function pager(res, go) {
  const first = res.total ? res.offset + 1 : 0, last = res.offset + res.rows.length;
  return el("div", { class: "toolbar", id: "pager" },
    el("span", { class: "muted", id: "total" }, `${res.total} runs · ${first}–${last}`),
    el("button", { disabled: res.offset === 0, onclick: () => go({ offset: Math.max(0, res.offset - res.limit) }) }, "← previous"),
    el("button", { disabled: last >= res.total, onclick: () => go({ offset: res.offset + res.limit }) }, "next →"));
}
