"""Reports as blocks, rendered twice: Markdown and a self-contained HTML page.

A report (the study's, the phase diagram's) is a list of blocks — ``("h1", text)``,
``("h2", text)``, ``("p", text)``, ``("list", [items])``, ``("table", header, rows)``,
``("figure", path, caption)`` — so its ``.md`` and its ``.html`` always say the same
thing. ``**bold**`` is the only inline markup.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

__all__ = ["to_html", "to_markdown"]


def to_markdown(items: list[tuple], out: Path) -> str:
    """The blocks as Markdown; figure paths relative to ``out`` (the report's folder)."""
    lines = []
    for kind, *rest in items:
        if kind == "h1":
            lines += [f"# {rest[0]}", ""]
        elif kind == "h2":
            lines += [f"## {rest[0]}", ""]
        elif kind == "p":
            lines += [rest[0], ""]
        elif kind == "list":
            lines += [f"- {item}" for item in rest[0]] + [""]
        elif kind == "table":
            header, rows = rest
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        elif kind == "figure":
            path, caption = rest
            lines += [f"![{caption}]({Path(path).relative_to(out).as_posix()})", ""]
    return "\n".join(lines)


def _html_inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")  # **bold** is the only inline markup the blocks use
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def to_html(items: list[tuple], title: str = "jaxdeep study") -> str:
    """The blocks as one self-contained HTML page (figures embedded as base64 PNG)."""
    body = []
    for kind, *rest in items:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{_html_inline(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_html_inline(rest[0])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            header, rows = rest
            body.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                        + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>"
                                                            for c in r) + "</tr>" for r in rows)
                        + "</table>")
        elif kind == "figure":
            path, caption = rest
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(caption)}" '
                        f'src="data:image/png;base64,{data}"><figcaption>'
                        f"{html.escape(caption)}</figcaption></figure>")
    # Text keeps a readable measure (1100 px); a figure may be wider, centred on the text
    # and up to the window's width, so a multi-panel figure is shown near its own size
    # instead of shrunk into the text column (where its labels became too small to read).
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
             "padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
             "td:first-child,th:first-child{text-align:left}"
             "figure{width:max-content;max-width:min(96vw,1800px);margin:1.5em 0;"
             "position:relative;left:50%;transform:translateX(-50%)}"
             "img{max-width:100%;height:auto}"
             "figcaption{color:#555;font-size:.9em}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
