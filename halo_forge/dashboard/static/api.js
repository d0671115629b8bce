// Talking to the API: the token (cookie set by the page URL `halo-forge dashboard` prints, or pasted),
// JSON fetches that turn a refused request into an Error with the CLI's message, and a tiny DOM helper.

const COOKIE = "halo_forge_token";

export function token() {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(COOKIE + "="));
  return hit ? decodeURIComponent(hit.slice(COOKIE.length + 1)) : sessionStorage.getItem(COOKIE) || "";
}

export function setToken(value) {
  document.cookie = `${COOKIE}=${encodeURIComponent(value)}; path=/; samesite=strict`;
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

export async function answer(r) {
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new ApiError(body.error || `HTTP ${r.status}`, r.status);
  return body;
}

export async function get(path) {
  return answer(await fetch(path, { headers: headers() }));
}

export async function post(path, data) {
  return answer(await fetch(path, { method: "POST", headers: headers({ "Content-Type": "application/json" }),
                                    body: JSON.stringify(data) }));
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x)); else p.append(k, v);
  }
  return p.toString();
}

// el("a", {href: "#"}, "text", child…): attributes starting with "on" are listeners
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, "");
  if (typeof v === "boolean") return v ? "yes" : "no";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function badge(v) { return el("span", { class: `badge ${v || ""}` }, v || "-"); }

export function errorBox(e) { return el("div", { class: "error" }, e.message || String(e)); }

export function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
    else out[prefix + k] = v;
  }
  return out;
}

export function keyValues(obj) {
  const flat = flatten(obj);
  return el("table", {}, Object.entries(flat).map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", { class: "mono" }, fmt(v)))));
}
