"""Opening Orbit's pages in a browser without putting the token in any argv.

The URL with its token goes into a 0600 redirect page in the profile's private runtime folder;
the browser is given only that file's path.
"""

from __future__ import annotations

import html
import webbrowser
from pathlib import Path

from jupyter_orbit import atomic
from jupyter_orbit.paths import ProfilePaths


def redirect_page(profile: ProfilePaths, url: str) -> Path:
    page = profile.runtime_dir / "orbit-open.html"
    target = html.escape(url, quote=True)
    atomic.write_text(
        page,
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='0;url={target}'><title>Orbit</title></head>"
        f"<body><a href='{target}'>Open JupyterLab</a></body></html>\n",
        mode=0o600,
    )
    return page


def open_url(profile: ProfilePaths, url: str) -> bool:
    """Open ``url`` (which may carry a token) in the user's browser; False if none could be."""
    page = redirect_page(profile, url)
    try:
        return webbrowser.open(page.as_uri())
    except webbrowser.Error:
        return False
