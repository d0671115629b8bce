// Run detail: verdict and reasons, held-out before → after, curves, yield diagnostics, config, lineage,
// MLflow and Prefect links, the replay command.
import { badge, el, errorBox, fmt, get, keyValues } from "./api.js";
import { lineChart } from "./chart.js";

export function renderRun(main, runId) {
  const id = encodeURIComponent(runId);
  main.append(el("p", { class: "muted" }, "loading " + runId + "…"));
  Promise.all([get(`/runs/${id}`), get(`/runs/${id}/metrics`), get(`/runs/${id}/lineage`),
               get(`/runs/${id}/replay`), get(`/runs/${id}/links`)])
    .then(([s, metrics, lineage, replay, links]) => {
      main.replaceChildren(
        el("h1", { id: "run-title" }, el("span", { class: "mono" }, s.run_id), " ", badge(s.effectiveness.verdict),
           " ", el("span", { class: "muted small" }, `${s.modality} on ${s.model_name} · ${s.status}`)),
        verdict(s), heldOut(s), curves(metrics), yieldBox(s), lineageBox(lineage),
        linksBox(links), replayBox(replay),
        el("h2", {}, "Config"), el("div", { id: "config" }, keyValues(s.config)),
        el("h2", {}, "Run"), keyValues({ started_at: s.started_at, ended_at: s.ended_at, duration_seconds: s.duration_seconds,
          steps: s.total_train_steps_executed, final_train_loss: s.final_train_loss, weights_updated: s.weights_updated,
          backend: s.backend, seed: s.seed, inputs: s.inputs, outputs: s.outputs }));
    })
    .catch((e) => main.replaceChildren(el("h1", {}, runId), errorBox(e)));
}

function verdict(s) {
  return el("section", { id: "verdict" }, el("h2", {}, "Verdict: ", badge(s.effectiveness.verdict)),
    el("ul", {}, s.effectiveness.reasons.map((r) => el("li", {}, r))));
}

function heldOut(s) {
  const evs = s.effectiveness.evaluations || [];
  if (!evs.length) return el("p", { class: "muted" }, "no held-out evaluation");
  return el("section", { id: "held-out" }, el("h2", {}, "Held-out, before → after training"),
    el("table", {}, el("tr", {}, ["metric", "before", "after", "delta", "n"].map((h) => el("th", {}, h))),
      evs.map((e) => el("tr", {}, el("td", {}, e.metric), el("td", { class: "num" }, fmt(e.before)),
        el("td", { class: "num" }, fmt(e.after)), el("td", { class: "num" }, fmt(e.delta)), el("td", { class: "num" }, e.n)))));
}

function curves(metrics) {
  const names = Object.keys(metrics.series);
  return el("section", { id: "curves" }, el("h2", {}, "Curves"),
    names.length ? el("div", { class: "charts" }, names.map((n) => lineChart(n, [{ name: n, points: metrics.series[n] }])))
                 : el("p", { class: "muted" }, "no curves recorded"));
}

function yieldBox(s) {
  const y = s.yield_diagnostics || {};
  if (!Object.keys(y).length) return el("span");
  return el("section", { id: "yield" }, el("h2", {}, "Yield diagnostics"), keyValues(y));
}

function node(text, href, cls = "node") {
  return el("span", { class: cls }, href ? el("a", { href }, text) : text);
}

function short(d) { return d ? (d.length > 22 ? d.slice(0, 19) + "…" : d) : "-"; }

function lineageBox(lin) {
  const arrow = () => el("span", { class: "arrow" }, "→");
  const up = [...lin.upstream].reverse();  // earliest stage first
  const items = [node(`data ${lin.run.dataset || ""} ${short(lin.dataset_digest)}`)];
  for (const l of up) items.push(arrow(), node(`${l.modality || ""} ${l.run_id}`, "#/run/" + encodeURIComponent(l.run_id)));
  items.push(arrow(), node(`model in ${short(lin.base_model)}`), arrow(), node(`this run ${lin.run.run_id}`, null, "node this"),
             arrow(), node(`model out ${short(lin.output_model_digest)}`));
  for (const l of lin.downstream) items.push(arrow(), node(`${l.modality || ""} ${l.run_id}`, "#/run/" + encodeURIComponent(l.run_id)));
  const same = lin.same_dataset.length ? el("p", { class: "muted small" }, `${lin.same_dataset.length} other runs on the same data`) : null;
  return el("section", { id: "lineage" }, el("h2", {}, "Lineage: data → run → model → next run"),
    el("div", { class: "lineage" }, items), same);
}

function linksBox(l) {
  return el("section", { id: "links" }, el("h2", {}, "Tracking"), el("ul", {},
    el("li", {}, "MLflow run: ", l.mlflow_url ? el("a", { href: l.mlflow_url, target: "_blank" }, l.mlflow_run_id) : "not tracked",
      el("div", { class: "muted small" }, "open the MLflow UI: ", el("code", {}, l.mlflow_ui_command))),
    el("li", {}, "Prefect flow run: ", l.prefect_url ? el("a", { href: l.prefect_url, target: "_blank" }, l.prefect_flow_run_id)
                                                        : (l.prefect_flow_run_id || "not recorded"))));
}

function replayBox(r) {
  return el("section", { id: "replay" }, el("h2", {}, "Replay"), el("pre", { class: "cmd" }, r.command),
    el("p", { class: "muted small" }, r.recorded ? `recorded in ${r.folder}; ${r.replays.length} earlier replays`
                                                 : `not replayable: ${r.note}`));
}
