"""HTML building blocks of ``report.html``: tables, figures, sections, the page.

Every numeric table cell carries its exact value in ``data-value`` (``repr`` of the float) and
every table names where its numbers come from in ``data-source``, so a reader (or a test) can
check each number against the stored rows and fit files.
"""
from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #333;padding-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right} th{background:#f0f0f0}
td.t{text-align:left} caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;margin:.6em 0}
.empty{background:#f4f4f4;border-left:4px solid #999;padding:.4em .8em;margin:.6em 0}
img{max-width:100%;border:1px solid #eee} code{background:#f4f4f4;padding:0 .25em}
.src{color:#777;font-size:.8em}
.verdict{font-size:1.1em;padding:.5em .8em;border-left:6px solid #999;background:#f4f4f4}
.verdict-sound{border-color:#2e7d32;background:#edf7ee} .verdict-weak{border-color:#f0b400;background:#fff8e1}
.verdict-unidentifiable{border-color:#c62828;background:#fdecea}
"""


def esc(x: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(x))


def fmt(v: Any) -> str:
    """Human format of a number: integers with separators, floats with 4 significant digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    v = float(v)
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.3e}"
    if v == int(v) and abs(v) < 1e6:
        return f"{int(v):,}"
    return f"{v:.4g}"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def table(rows: Sequence[dict] | pd.DataFrame, columns: Sequence[tuple[str, str]], *, tid: str,
          source: str, caption: str = "") -> str:
    """An HTML table; ``columns`` = (key, header). Numbers get ``data-value`` with full precision."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict(orient="records")
    head = "".join(f"<th data-key=\"{esc(k)}\">{esc(h)}</th>" for k, h in columns)
    body = []
    for r in rows:
        cells = []
        for k, _ in columns:
            v = r.get(k)
            if _is_num(v) and not (isinstance(v, float) and math.isnan(v)):
                cells.append(f"<td data-value=\"{float(v)!r}\">{esc(fmt(v))}</td>")
            elif _is_num(v):
                cells.append("<td data-value=\"nan\">–</td>")
            else:
                cells.append(f"<td class=\"t\">{esc('' if v is None else fmt(v) if isinstance(v, bool) else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f"<table id=\"{esc(tid)}\" data-source=\"{esc(source)}\">{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table><div class=\"src\">numbers from <code>{esc(source)}</code></div>")


def png_b64(fig) -> bytes:
    """PNG bytes of a matplotlib Figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def img(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a base64 data URI."""
    return (f"<figure><img alt=\"{esc(alt)}\" src=\"data:image/png;base64,"
            f"{base64.b64encode(png).decode()}\"><figcaption class=\"src\">{esc(alt)}</figcaption></figure>")


def notes(items: Iterable[str], cls: str = "note") -> str:
    """Plain-language notes (why a section is empty, what a fit skipped)."""
    items = [i for i in items if i]
    return "".join(f"<p class=\"{cls}\">{esc(i)}</p>" for i in items)


def section(sid: str, title: str, body: str) -> tuple[str, str, str]:
    """A report section: (stable id, title, HTML body)."""
    return (sid, title, body)


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The full self-contained HTML document (table of contents, then every section)."""
    toc = "".join(f"<li><a href=\"#{esc(sid)}\">{esc(t)}</a></li>" for sid, t, _ in sections)
    body = "".join(f"<section id=\"{esc(sid)}\"><h2>{esc(t)}</h2>{b}</section>" for sid, t, b in sections)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p>{subtitle}</p><ol>{toc}</ol>{body}</body></html>")
