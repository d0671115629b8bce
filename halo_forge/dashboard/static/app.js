// The page router: #/runs?…, #/run/<id>, #/compare?ids=a,b, #/train.
import { el, setToken, token } from "./api.js";
import { renderCompare } from "./compare.js";
import { renderRun } from "./run.js";
import { renderRuns } from "./runs.js";
import { renderTrain } from "./train.js";

const main = document.getElementById("main");
let leave = null;  // the current page's cleanup (closes live event streams)

function route() {
  if (leave) { leave(); leave = null; }
  const hash = location.hash.slice(1) || "/runs";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  document.querySelectorAll("header nav a").forEach((a) =>
    a.classList.toggle("active", a.dataset.nav === (parts[0] === "run" ? "runs" : parts[0])));
  main.replaceChildren();
  if (parts[0] === "run" && parts[1]) leave = renderRun(main, decodeURIComponent(parts.slice(1).join("/")));
  else if (parts[0] === "compare") leave = renderCompare(main, params);
  else if (parts[0] === "train") leave = renderTrain(main, params);
  else leave = renderRuns(main, params);
}

function authBox() {
  const box = document.getElementById("auth");
  if (token()) { box.replaceChildren(el("span", { class: "muted" }, "token set")); return; }
  const input = el("input", { type: "text", placeholder: "paste the dashboard token", size: 28, id: "token-input" });
  box.replaceChildren(input, el("button", { onclick: () => { setToken(input.value.trim()); authBox(); route(); } }, "use"));
}

window.addEventListener("hashchange", route);
authBox();
route();
