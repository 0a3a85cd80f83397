/**
 * The scaling plot, written by hand (no plotting dependency): concurrent calls on a log x
 * axis; gateway-added time to first audio (p50, p99) on the left axis; gateway CPU (cores)
 * on the right axis.
 */
export interface ScalingPoint {
  calls: number;
  addedP50: number;
  addedP99: number;
  /** Gateway CPU in cores (CPU seconds per wall second). */
  cores: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A "nice" axis maximum (1, 2, 5 × 10^k) at or above `x`. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function scalingSvg(points: ScalingPoint[], title: string, subtitle: string): string {
  const W = 760;
  const H = 440;
  const m = { left: 70, right: 80, top: 64, bottom: 60 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const xs = points.map((p) => p.calls);
  const lx0 = Math.log10(Math.min(...xs) / 1.3);
  const lx1 = Math.log10(Math.max(...xs) * 1.3);
  const x = (calls: number) => m.left + ((Math.log10(calls) - lx0) / (lx1 - lx0)) * pw;
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  const msMin = Math.min(0, ...points.map((p) => finite(p.addedP50)));
  const msMax = niceMax(Math.max(...points.map((p) => finite(p.addedP99)), ...points.map((p) => finite(p.addedP50)), 1));
  const coreMax = niceMax(Math.max(...points.map((p) => finite(p.cores)), 0.1));
  const yMs = (v: number) => m.top + ph - ((v - msMin) / (msMax - msMin)) * ph;
  const yCore = (v: number) => m.top + ph - (v / coreMax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${W / 2}" y="42" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);
  // Grid and left axis (ms).
  for (let i = 0; i <= 5; i++) {
    const v = msMin + ((msMax - msMin) * i) / 5;
    const y = yMs(v);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 8}" y="${y + 4}" text-anchor="end">${+v.toFixed(1)}</text>`);
    const c = (coreMax * i) / 5;
    out.push(`<text x="${m.left + pw + 8}" y="${yCore(c) + 4}" fill="#2a7">${+c.toFixed(2)}</text>`);
  }
  if (msMin < 0) out.push(`<line x1="${m.left}" y1="${yMs(0)}" x2="${m.left + pw}" y2="${yMs(0)}" stroke="#999"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="black"/>`);
  out.push(`<line x1="${m.left + pw}" y1="${m.top}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#2a7"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="black"/>`);
  for (const c of xs) {
    out.push(`<line x1="${x(c)}" y1="${m.top + ph}" x2="${x(c)}" y2="${m.top + ph + 5}" stroke="black"/>`);
    out.push(`<text x="${x(c)}" y="${m.top + ph + 19}" text-anchor="middle">${c.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${m.left + pw / 2}" y="${H - 16}" text-anchor="middle">concurrent calls (log scale)</text>`);
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">gateway-added time to first audio, ms</text>`);
  out.push(`<text transform="translate(${W - 18} ${m.top + ph / 2}) rotate(90)" text-anchor="middle" fill="#2a7">gateway CPU, cores</text>`);
  const line = (pts: [number, number][], color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>` +
    pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3.5" fill="${color}"/>`).join('');
  out.push(line(points.map((p) => [x(p.calls), yMs(finite(p.addedP50))]), '#1f5fbf'));
  out.push(line(points.map((p) => [x(p.calls), yMs(finite(p.addedP99))]), '#d0342c'));
  out.push(line(points.map((p) => [x(p.calls), yCore(finite(p.cores))]), '#2a7', '6 4'));
  for (const p of points) {
    out.push(`<text x="${x(p.calls) + 6}" y="${yMs(finite(p.addedP99)) - 6}" fill="#d0342c" font-size="11">${p.addedP99.toFixed(1)}</text>`);
    out.push(`<text x="${x(p.calls) + 6}" y="${yMs(finite(p.addedP50)) + 14}" fill="#1f5fbf" font-size="11">${p.addedP50.toFixed(1)}</text>`);
  }
  const legend: [string, string, string][] = [
    ['#1f5fbf', '', 'added TTFA p50 (ms)'],
    ['#d0342c', '', 'added TTFA p99 (ms)'],
    ['#2a7', '6 4', 'gateway CPU (cores)'],
  ];
  legend.forEach(([color, dash, label], i) => {
    const lx = m.left + 12 + i * 180;
    out.push(`<line x1="${lx}" y1="${m.top - 10}" x2="${lx + 26}" y2="${m.top - 10}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 32}" y="${m.top - 6}">${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
