"""MkDocs hooks for jaxdeep's site.

jaxdeep's docstrings name other objects the Sphinx way (``:func:`~jaxdeep.train.fit```),
which Markdown renders as the role's name followed by code. This hook drops the role and,
as Sphinx does for a leading ``~``, shows only the last component of the dotted name.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:func|mod|class|meth|attr|data|obj|exc|const):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match) -> str:
    tilde, name = match.groups()
    return f"<code>{name.rsplit('.', 1)[-1] if tilde else name}</code>"


def on_page_content(html: str, **_) -> str:
    return _ROLE.sub(_plain, html)
