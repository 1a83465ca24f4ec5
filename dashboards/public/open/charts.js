// Bar charts as inline SVG built with DOM calls (the CSP forbids inline styles and
// scripts; SVG presentation comes from classes in open.css). Each bar is coloured by its
// AQI level; an invalid period is a short grey stub, never a guessed value.

const NS = 'http://www.w3.org/2000/svg';

export function levelOf(v) {
  if (v === null || v === undefined) return 0;
  return v <= 50 ? 1 : v <= 100 ? 2 : v <= 150 ? 3 : v <= 200 ? 4 : v <= 300 ? 5 : 6;
}

function el(name, attrs = {}) {
  const n = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

/** points: [{ label, value|null }]; returns an <svg role="img"> with a text summary. */
export function barChart(points, { label, emptyText, invalidText }) {
  const W = 320;
  const Hh = 120;
  const pad = 18;
  const valid = points.filter((p) => p.value !== null);
  const max = Math.max(100, ...valid.map((p) => p.value));
  const svg = el('svg', { viewBox: `0 0 ${W} ${Hh + pad}`, role: 'img', class: 'chart', 'aria-label': label });
  const title = el('title');
  title.textContent = label;
  svg.append(title);
  if (points.length === 0) {
    const tx = el('text', { x: W / 2, y: Hh / 2, 'text-anchor': 'middle', class: 'chart-empty' });
    tx.textContent = emptyText;
    svg.append(tx);
    return svg;
  }
  // guide lines at the 50/100/150/200/300 boundaries within range
  for (const b of [50, 100, 150, 200, 300]) {
    if (b > max) break;
    const y = Hh - (b / max) * (Hh - 4);
    svg.append(el('line', { x1: 0, x2: W, y1: y, y2: y, class: 'guide' }));
  }
  const bw = W / points.length;
  points.forEach((p, i) => {
    const h = p.value === null ? 3 : Math.max(2, (p.value / max) * (Hh - 4));
    const r = el('rect', { x: i * bw + 1, y: Hh - h, width: Math.max(1, bw - 2), height: h, class: p.value === null ? 'bar invalid' : `bar aqi-l${levelOf(p.value)}` });
    const tip = el('title');
    tip.textContent = `${p.label}: ${p.value === null ? invalidText : p.value}`;
    r.append(tip);
    svg.append(r);
  });
  const first = el('text', { x: 0, y: Hh + 14, class: 'axis' });
  first.textContent = points[0].label;
  const last = el('text', { x: W, y: Hh + 14, 'text-anchor': 'end', class: 'axis' });
  last.textContent = points[points.length - 1].label;
  svg.append(first, last);
  return svg;
}
