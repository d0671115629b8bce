// Train, goal first: goal → trainer → dataset, model (and verifiers) → settings, with the exact CLI command
// always shown (the server builds it: POST /train with dry_run); start, live progress, cancel.
import { badge, el, errorBox, fmt, get, post } from "./api.js";
import { lineChart } from "./chart.js";

const MAIN_FIELDS = ["max_steps", "learning_rate", "batch_size", "no_lora", "output", "seed"];
const PICKED = new Set(["dataset", "data", "model", "verifiers"]);

export function renderTrain(main, params) {
  const ui = { opts: null, goal: null, trainer: null, values: {}, source: null, timer: null, stream: null };
  const sections = { goals: el("div", { class: "cards", id: "goals" }), trainer: el("div", { id: "trainer" }),
    pickers: el("div", { id: "pickers" }), settings: el("div", { id: "settings" }),
    command: el("pre", { class: "cmd", id: "command" }, "choose a goal"), problem: el("div", { id: "problem" }),
    live: el("section", { id: "live" }), recent: el("section", { id: "recent" }) };
  const start = el("button", { class: "primary", id: "start", disabled: true, onclick: () => launch(ui, sections, start) }, "Start training");
  main.append(el("h1", {}, "Train"), el("h2", {}, "1. What do you want to do?"), sections.goals, sections.trainer,
    sections.pickers, sections.settings, el("h2", {}, "The command"), sections.command,
    el("p", { class: "muted small", id: "cwd" }), sections.problem, el("div", { class: "row" }, start), sections.live, sections.recent);
  get("/train/options").then((opts) => {
    ui.opts = opts;
    main.querySelector("#cwd").textContent = `run from the workspace root: ${opts.workspace}`;
    sections.goals.append(...opts.goals.map((g) => el("div", { class: "card", "data-goal": g.id, onclick: () => pickGoal(ui, sections, g, start) },
      el("h3", {}, g.title), el("div", { class: "small" }, g.description), el("div", { class: "muted small" }, "→ " + g.trainers.join(" or ").toUpperCase()))));
  }).catch((e) => sections.goals.replaceChildren(errorBox(e)));
  recent(sections.recent);
  if (params.get("follow")) follow(ui, sections, params.get("follow"));
  return () => { if (ui.stream) ui.stream.close(); };
}

function pickGoal(ui, sections, goal, start) {
  ui.goal = goal;
  sections.goals.querySelectorAll(".card").forEach((c) => c.classList.toggle("selected", c.dataset.goal === goal.id));
  const choose = (name) => { ui.trainer = name; ui.values = {}; drawPickers(ui, sections, start); };
  sections.trainer.replaceChildren(el("h2", {}, "2. Method"), el("div", { class: "row" }, goal.trainers.map((t) =>
    el("label", {}, el("input", { type: "radio", name: "trainer", value: t, checked: t === goal.trainers[0], onchange: () => choose(t) }),
       ` ${t.toUpperCase()} — ${ui.opts.trainers[t].description}`))));
  choose(goal.trainers[0]);
}

function picker(label, id, choices, initial, onchange, otherLabel) {
  const describe = el("div", { class: "muted small" });
  const other = el("input", { type: "text", placeholder: otherLabel, hidden: true, id: id + "-other", size: 40 });
  const select = el("select", { id }, choices.map((c) => el("option", { value: c.name, selected: c.name === initial }, c.name)),
    el("option", { value: "__other" }, "other…"));
  const update = () => {
    const c = choices.find((x) => x.name === select.value);
    other.hidden = select.value !== "__other";
    describe.textContent = c ? `${c.description}${c.source ? " (" + c.source + ")" : ""}` : otherLabel;
    onchange(select.value === "__other" ? other.value.trim() : select.value);
  };
  select.addEventListener("change", update);
  other.addEventListener("input", update);
  setTimeout(update);
  return el("div", { class: "field" }, el("b", {}, label), el("div", {}, select, other), describe);
}

function drawPickers(ui, sections, start) {
  const t = ui.opts.trainers[ui.trainer], f = t.fields;
  const set = (name) => (value) => { if (value === "" || value === undefined) delete ui.values[name]; else ui.values[name] = value; preview(ui, sections, start); };
  const rows = [el("h2", {}, "3. Data and model")];
  rows.push(picker("dataset", "dataset", t.datasets, t.datasets[0] && t.datasets[0].name, set("dataset"),
    "a hub id (owner/name); a local file: set `data` under All settings"));
  rows.push(picker("model", "model", ui.opts.models, f.model.default, (v) => {
    if (v === f.model.default) delete ui.values.model; else set("model")(v);
    preview(ui, sections, start);
  }, "a hub id or a local folder"));
  rows.push(el("p", { class: "muted small" }, `model default: ${f.model.default} — ${f.model.description}`));
  if (f.verifiers) {
    const chosen = new Set(f.verifiers.default);
    rows.push(el("div", { class: "field", id: "verifiers" }, el("b", {}, "verifiers"),
      el("div", {}, ui.opts.verifiers.map((v) => el("label", { title: v.description, style: "display:block" },
        el("input", { type: "checkbox", value: v.name, checked: chosen.has(v.name), onchange: (e) => {
          e.target.checked ? chosen.add(v.name) : chosen.delete(v.name);
          set("verifiers")([...chosen]);
        } }), ` ${v.name}`))), el("div", { class: "muted small" }, f.verifiers.description)));
  }
  sections.pickers.replaceChildren(...rows);
  const inputs = Object.entries(f).filter(([n]) => !PICKED.has(n)).map(([name, spec]) => fieldRow(name, spec, ui, set(name)));
  const main = inputs.filter((r) => MAIN_FIELDS.includes(r.dataset.field));
  sections.settings.replaceChildren(el("h2", {}, "4. Settings (empty = the default shown)"), ...main,
    el("details", {}, el("summary", {}, "All settings"), ...inputs.filter((r) => !MAIN_FIELDS.includes(r.dataset.field))));
  preview(ui, sections, start);
}

function parse(spec, raw) {
  if (raw === "") return "";
  if (spec.type === "int") return Number.isInteger(Number(raw)) ? Number(raw) : raw;
  if (spec.type === "float") return Number.isNaN(Number(raw)) ? raw : Number(raw);
  if (spec.type === "list") return raw.split(",").map((s) => s.trim()).filter(Boolean);
  return raw;
}

function fieldRow(name, spec, ui, set) {
  let input;
  if (spec.type === "bool") {
    input = el("input", { type: "checkbox", "data-name": name, checked: spec.default === true,
                          onchange: () => set(input.checked === (spec.default === true) ? "" : input.checked) });
  } else if (spec.type === "choice") {
    input = el("select", { "data-name": name, onchange: () => set(input.value === String(spec.default) ? "" : input.value) },
      spec.choices.map((c) => el("option", { value: c, selected: c === String(spec.default) }, c)));
  } else {
    const shown = name === "output" ? "outputs/<run id>" : fmt(spec.default);
    input = el("input", { type: "text", "data-name": name, placeholder: shown, size: 22,
                          oninput: () => set(parse(spec, input.value.trim())) });
  }
  return el("div", { class: "field", "data-field": name }, el("span", { class: "mono" }, spec.flag), el("div", {}, input),
    el("div", { class: "muted small" }, spec.description, name === "output" ? " (the dashboard's default: outputs/<run id>)" : ""));
}

function request(ui, dryRun) {
  return { trainer: ui.trainer, config: { ...ui.values }, dry_run: dryRun };
}

function preview(ui, sections, start) {
  clearTimeout(ui.timer);
  ui.timer = setTimeout(() => post("/train", request(ui, true)).then((info) => {
    sections.command.textContent = info.command;
    sections.problem.replaceChildren();
    start.disabled = false;
  }).catch((e) => {
    sections.problem.replaceChildren(errorBox(e));
    start.disabled = true;
  }), 200);
}

function launch(ui, sections, start) {
  start.disabled = true;
  post("/train", request(ui, false)).then((info) => {
    sections.command.textContent = info.command;
    history.replaceState(null, "", "#/train?follow=" + encodeURIComponent(info.run_id));
    follow(ui, sections, info.run_id);
  }).catch((e) => { sections.problem.replaceChildren(errorBox(e)); start.disabled = false; });
}

function follow(ui, sections, runId) {
  if (ui.stream) ui.stream.close();
  const state = el("span", { id: "state" }, badge("running"));
  const bar = el("progress", { id: "progress", max: 1, value: 0 });
  const step = el("span", { id: "step", class: "muted" }, "starting…");
  const log = el("pre", { class: "log", id: "log" });
  const points = [];
  const chart = el("div", { id: "live-chart" }, lineChart("loss (live)", [{ name: "loss", points }]));
  const result = el("div", { id: "result" });
  const cancel = el("button", { class: "danger", id: "cancel", onclick: () => {
    cancel.disabled = true;
    post(`/runs/${encodeURIComponent(runId)}/cancel`, {}).catch((e) => result.replaceChildren(errorBox(e)));
  } }, "Cancel");
  sections.live.replaceChildren(el("h2", {}, "Run ", el("span", { class: "mono", id: "live-run" }, runId)),
    el("div", { class: "row" }, state, bar, step, cancel), chart, log, result);
  const es = new EventSource(`/runs/${encodeURIComponent(runId)}/events`);
  ui.stream = es;
  es.addEventListener("launch", (e) => { sections.command.textContent = JSON.parse(e.data).command; });
  es.addEventListener("log", (e) => { log.textContent += JSON.parse(e.data).line + "\n"; log.scrollTop = log.scrollHeight; });
  es.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    bar.max = p.total; bar.value = p.step;
    step.textContent = `${p.label}: step ${p.step}/${p.total} · loss ${fmt(p.loss)} · eta ${p.eta}s`;
    if (p.loss !== null) { points.push({ step: p.step, value: p.loss }); chart.replaceChildren(lineChart("loss (live)", [{ name: "loss", points }])); }
  });
  es.addEventListener("done", (e) => {
    const info = JSON.parse(e.data);
    es.close(); ui.stream = null; cancel.disabled = true;
    state.replaceChildren(badge(info.state));
    const ran = (info.result_run_ids || [])[0];
    result.replaceChildren(info.error ? errorBox({ message: info.error }) : "",
      ran ? el("p", {}, info.cache_hit ? "cache hit: identical inputs already trained as " : "finished: ",
               el("a", { href: "#/run/" + encodeURIComponent(ran), id: "result-link" }, ran), " verdict ", badge(info.verdict)) : "");
    recent(sections.recent);
  });
}

function recent(box) {
  get("/launches").then((list) => box.replaceChildren(el("h2", {}, "Launched from here"), list.length ? el("table", {},
    list.slice(0, 10).map((l) => el("tr", {}, el("td", { class: "mono" }, el("a", { href: "#/train?follow=" + encodeURIComponent(l.run_id) }, l.run_id)),
      el("td", {}, badge(l.state)), el("td", { class: "mono small" }, l.command)))) : el("p", { class: "muted" }, "nothing yet")))
    .catch(() => box.replaceChildren());
}
