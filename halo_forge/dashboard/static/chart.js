// A small SVG line chart: several series over a shared step axis, no library.
import { el, fmt } from "./api.js";

export const COLORS = ["#2f5fd0", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad"];
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// series: [{name, points: [{step, value}]}]
export function lineChart(title, series, { width = 420, height = 220 } = {}) {
  const pad = { l: 48, r: 10, t: 22, b: 26 };
  const pts = series.flatMap((s) => s.points);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                            "aria-label": title, "data-series": series.map((s) => s.name).join(",") });
  root.append(svg("text", { x: pad.l, y: 14, "font-weight": 600 }, title));
  if (!pts.length) {
    root.append(svg("text", { x: pad.l, y: height / 2 }, "no points yet"));
    return el("div", { class: "chart" }, root);
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p.step)), Math.max(...pts.map((p) => p.step))];
  let [y0, y1] = [Math.min(...pts.map((p) => p.value)), Math.max(...pts.map((p) => p.value))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const X = (v) => pad.l + ((v - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const Y = (v) => height - pad.b - ((v - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  root.append(svg("line", { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, stroke: "#ccd" }));
  root.append(svg("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b, stroke: "#ccd" }));
  for (const v of [y0, (y0 + y1) / 2, y1]) {
    root.append(svg("text", { x: 4, y: Y(v) + 3 }, fmt(v)));
  }
  root.append(svg("text", { x: pad.l, y: height - 8 }, `step ${fmt(x0)}`));
  root.append(svg("text", { x: width - pad.r - 60, y: height - 8 }, `step ${fmt(x1)}`));
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    const d = s.points.map((p) => `${X(p.step).toFixed(1)},${Y(p.value).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points: d, fill: "none", stroke: color, "stroke-width": 1.8, class: "line",
                                  "data-name": s.name }));
    if (s.points.length === 1) root.append(svg("circle", { cx: X(s.points[0].step), cy: Y(s.points[0].value), r: 3, fill: color }));
    if (series.length > 1) {
      root.append(svg("text", { x: width - pad.r - 150, y: pad.t + 12 * i, fill: color }, s.name.slice(0, 28)));
    }
  });
  return el("div", { class: "chart" }, root);
}
