#!/usr/bin/env python3
"""SVG chart of bench/out/results.json: one panel per benchmark, one row per runtime/stack.
Each row: every measurement as a dot (jittered), the interquartile box, the median bar and min–max whiskers.
Axes start at 0 so that ratios can be read off; values beyond the axis are drawn at its end as ▸.
usage: chart.py results.json out.svg   (python3 standard library only)"""
import json
import random
import sys
from xml.sax.saxutils import escape

COLORS = {"oxrun": "#d9480f", "oxrun+oxmon": "#d9480f", "crun": "#1971c2", "crun+conmon": "#1971c2",
          "runc": "#2f9e44", "runc+conmon": "#2f9e44"}
W, LEFT, RIGHT, ROW, PANEL_PAD = 900, 150, 30, 26, 46


def quantile(v, p):
    v = sorted(v)
    k = (len(v) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def scale_unit(unit, vmax):
    if unit == "s":
        return (1000.0, "ms") if vmax < 10 else (1.0, "s")
    return 1.0, unit


def nice_ticks(vmax):
    import math
    raw = vmax / 5 if vmax > 0 else 1
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=mag * 10)
    ticks, t = [], 0.0
    while t <= vmax * 1.0001:
        ticks.append(t)
        t += step
    return ticks, step


def main():
    res = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    rnd = random.Random(1)
    panels = [(name, b) for name, b in res["benches"].items() if b["series"]]
    height = 52 + sum(PANEL_PAD + ROW * len(b["series"]) + 24 for _, b in panels)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{height}" fill="white"/>']
    meta = res.get("meta", {})
    title = f"oxrun bench — {meta.get('date', '')} — {meta.get('host', '')}"
    if meta.get("quick"):
        title += " — BENCH_QUICK (meaningless numbers)"
    svg.append(f'<text x="10" y="22" font-size="14" font-weight="bold">{escape(title)}</text>')
    y = 40
    if meta.get("label"):
        svg.append(f'<text x="10" y="40" font-size="12" fill="#a00">{escape(meta["label"][:140])}</text>')
        y = 52
    plot_w = W - LEFT - RIGHT
    for name, b in panels:
        unit = b["unit"]
        allv = [v for s in b["series"].values() for v in s["values"]]
        hb = any(s.get("higher_better") for s in b["series"].values())
        better = "higher is better" if hb else "lower is better"
        if not allv:
            vmax = 1.0
        else:
            # Clip far outliers: the axis ends at 1.5 × the largest p95 (or the max if smaller).
            p95 = max(quantile(s["values"], 0.95) for s in b["series"].values() if s["values"])
            vmax = min(max(allv), p95 * 1.5) or 1.0
        mult, uname = scale_unit(unit, vmax)
        ticks, _ = nice_ticks(vmax * mult)
        axis_max = ticks[-1] if ticks[-1] >= vmax * mult else vmax * mult
        svg.append(f'<text x="10" y="{y + 16}" font-size="13" font-weight="bold">{escape(name)}</text>'
                   f'<text x="{LEFT}" y="{y + 16}" fill="#555">{escape(uname)}, {better}</text>')
        y0 = y + 26
        nrows = len(b["series"])
        bottom = y0 + ROW * nrows
        for t in ticks:
            x = LEFT + plot_w * t / axis_max
            svg.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{bottom}" stroke="#e5e5e5"/>'
                       f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">{t:g}</text>')
        for i, (label, s) in enumerate(b["series"].items()):
            cy = y0 + ROW * i + ROW / 2
            color = COLORS.get(label, "#666")
            svg.append(f'<text x="{LEFT - 8}" y="{cy + 4:.1f}" text-anchor="end">{escape(label)}</text>')
            vals = [v * mult for v in s["values"]]
            if not vals:
                reason = s.get("skipped", "no data")
                svg.append(f'<text x="{LEFT + 4}" y="{cy + 4:.1f}" fill="#a00">not measured: '
                           f'{escape(reason[:110])}</text>')
                continue

            def X(v):
                return LEFT + plot_w * min(v, axis_max) / axis_max

            for v in vals if len(vals) <= 400 else rnd.sample(vals, 400):
                jy = cy + rnd.uniform(-ROW * 0.3, ROW * 0.3)
                if v > axis_max:
                    svg.append(f'<text x="{X(v) - 4:.1f}" y="{jy + 4:.1f}" fill="{color}">▸</text>')
                else:
                    svg.append(f'<circle cx="{X(v):.1f}" cy="{jy:.1f}" r="1.8" fill="{color}" fill-opacity="0.35"/>')
            q1, med, q3 = quantile(vals, 0.25), quantile(vals, 0.5), quantile(vals, 0.75)
            lo, hi = min(vals), max(vals)
            h = ROW * 0.6
            svg.append(f'<line x1="{X(lo):.1f}" y1="{cy:.1f}" x2="{X(hi):.1f}" y2="{cy:.1f}" stroke="{color}"/>'
                       f'<rect x="{X(q1):.1f}" y="{cy - h / 2:.1f}" width="{max(X(q3) - X(q1), 1):.1f}" height="{h:.1f}" '
                       f'fill="{color}" fill-opacity="0.15" stroke="{color}"/>'
                       f'<line x1="{X(med):.1f}" y1="{cy - h / 2:.1f}" x2="{X(med):.1f}" y2="{cy + h / 2:.1f}" '
                       f'stroke="{color}" stroke-width="3"/>'
                       f'<text x="{min(X(hi), LEFT + plot_w - 60) + 6:.1f}" y="{cy - 2:.1f}" font-size="10" '
                       f'fill="#333">{(f"{med:.0f}" if med >= 100 else f"{med:.3g}")}</text>')
        y = bottom + 24 + PANEL_PAD - 26
    svg.append("</svg>")
    open(out, "w").write("\n".join(svg))


if __name__ == "__main__":
    main()
