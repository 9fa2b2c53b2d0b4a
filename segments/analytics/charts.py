"""Small server-rendered SVG charts (lines and bars) for the analytics pages.

SVG from the server needs no script and no bundle, prints and screenshots as it looks, and can
be read by a screen reader through its title and the table that always sits next to it.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]


def line_chart(
    labels: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    percent: bool = False,
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """One line per series over the labels (dates or months), with a y axis from 0."""
    pad_l, pad_r, pad_t, pad_b = 48, 36, 12, 28
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=0) or 1
    n = max(len(labels), 1)
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(i):
        return pad_l + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v):
        return pad_t + plot_h - plot_h * v / top

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        v = top * k / 4
        label = f"{v * 100:.0f}%" if percent else (f"{v:.0f}" if top >= 4 else f"{v:.2f}")
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#e5e7eb"/><text x="{pad_l - 6}" y="{y(v) + 4:.1f}" font-size="11" '
            f'text-anchor="end" fill="#6b7280">{label}</text>'
        )
    step = max(1, n // 6)
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
            f'fill="#6b7280">{escape(labels[i])}</text>'
        )
    for c, (name, vs) in enumerate(series.items()):
        colour = COLOURS[c % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vs) if v is not None)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="legend-item"><i style="background:{COLOURS[c % len(COLOURS)]}"></i>'
        f"{escape(name)}</span>"
        for c, name in enumerate(series)
    )
    return mark_safe(
        "".join(parts) + (f'<p class="legend">{legend}</p>' if len(series) > 1 else "")
    )


def bar_chart(bars: list[tuple[str, float]], *, title: str, width: int = 720) -> SafeString:
    """Horizontal bars (a funnel), each labelled with its value."""
    row, pad_l = 28, 170
    height = row * max(len(bars), 1) + 8
    top = max((v for _, v in bars), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, v) in enumerate(bars):
        w = (width - pad_l - 60) * v / top
        y = 4 + i * row
        parts.append(
            f'<text x="{pad_l - 8}" y="{y + 17}" font-size="12" text-anchor="end" '
            f'fill="#374151">{escape(label)}</text>'
            f'<rect x="{pad_l}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" rx="3" '
            f'fill="{COLOURS[0]}"/><text x="{pad_l + w + 6:.1f}" y="{y + 17}" font-size="12" '
            f'fill="#374151">{v:g}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def shade(share: float | None) -> str:
    """The background of a retention cell: deeper blue for a larger share."""
    if share is None:
        return ""
    alpha = 0.08 + 0.8 * max(0.0, min(1.0, share))
    ink = "#fff" if alpha > 0.5 else "#111827"
    return f"background: rgba(37, 99, 235, {alpha:.2f}); color: {ink}"
