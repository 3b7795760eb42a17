"""Linux and other XDG desktops: a desktop entry, an icon, the notebook MIME type and default.

Everything goes under the user's own XDG folders (``$XDG_DATA_HOME``, ``$XDG_CONFIG_HOME``);
nothing needs root. The MIME type ``application/x-ipynb+json`` is declared again in the user's
MIME database for systems whose shared-mime-info predates it (it is in 2.2 and later).
"""

from __future__ import annotations

import re
from pathlib import Path

from jupyter_orbit.desktop import (
    NOTEBOOK_MIME,
    Action,
    DefaultApp,
    Launcher,
    RemovePath,
    RunCommand,
    WriteFile,
)

ICON = "jupyter-orbit"
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home(environ: dict[str, str], home: Path) -> Path:
    return Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")


def config_home(environ: dict[str, str], home: Path) -> Path:
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config")


def exec_quote(arg: str) -> str:
    """One argument of an Exec key, quoted as the Desktop Entry spec says."""
    arg = arg.replace("%", "%%")
    if not arg or any(c in _RESERVED for c in arg):
        escaped = re.sub(r'(["`$\\])', r"\\\1", arg)
        arg = f'"{escaped}"'
    # the value is also a desktop-file string, where a backslash is escaped again
    return arg.replace("\\", "\\\\")


def desktop_entry(what: Launcher) -> str:
    argv = [what.python, *what.args]
    exec_line = " ".join(exec_quote(a) for a in argv) + " %f"
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={what.name}",
        "GenericName=Notebook",
        f"Comment={what.comment}",
        f"Exec={exec_line}",
        f"TryExec={exec_quote(what.python)}",
        f"Icon={ICON}",
        "Terminal=false",
        "StartupNotify=false",
        "Categories=Development;IDE;",
        "Keywords=Jupyter;notebook;JupyterLab;Python;ipynb;",
        f"MimeType={NOTEBOOK_MIME};",
    ]
    return "\n".join(lines) + "\n"


MIME_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="{NOTEBOOK_MIME}">
    <comment>Jupyter notebook</comment>
    <sub-class-of type="application/json"/>
    <glob pattern="*.ipynb"/>
  </mime-type>
</mime-info>
"""


def _files(what: Launcher, environ: dict[str, str], home: Path) -> dict[str, Path]:
    data = data_home(environ, home)
    return {
        "entry": data / "applications" / f"{what.ident}.desktop",
        "svg": data / "icons" / "hicolor" / "scalable" / "apps" / f"{ICON}.svg",
        "png": data / "icons" / "hicolor" / "256x256" / "apps" / f"{ICON}.png",
        "mime": data / "mime" / "packages" / f"{ICON}.xml",
    }


def _refresh(environ: dict[str, str], home: Path) -> list[Action]:
    data = data_home(environ, home)
    return [
        RunCommand(("update-mime-database", str(data / "mime")), "refresh the MIME database"),
        RunCommand(
            ("update-desktop-database", str(data / "applications")),
            "refresh the desktop entry cache",
        ),
        RunCommand(
            ("gtk-update-icon-cache", "-f", "-t", str(data / "icons" / "hicolor")),
            "refresh the icon cache",
        ),
    ]


def install(what: Launcher, environ: dict[str, str], home: Path) -> list[Action]:
    f = _files(what, environ, home)
    actions: list[Action] = [
        WriteFile(f["svg"], what.svg),
        WriteFile(f["png"], what.png),
        WriteFile(f["mime"], MIME_XML.encode()),
        WriteFile(f["entry"], desktop_entry(what).encode()),
    ]
    if what.claims_notebooks:
        actions.append(
            DefaultApp(
                config_home(environ, home) / "mimeapps.list", NOTEBOOK_MIME, f"{what.ident}.desktop"
            )
        )
    return actions + _refresh(environ, home)


def uninstall(what: Launcher, environ: dict[str, str], home: Path) -> list[Action]:
    f = _files(what, environ, home)
    actions: list[Action] = [RemovePath(f["entry"])]
    if what.claims_notebooks:  # the shared files go with the default profile's launcher
        actions += [RemovePath(f["svg"]), RemovePath(f["png"]), RemovePath(f["mime"])]
        actions.append(
            DefaultApp(
                config_home(environ, home) / "mimeapps.list",
                NOTEBOOK_MIME,
                f"{what.ident}.desktop",
                remove=True,
            )
        )
    return actions + _refresh(environ, home)


def edit_mimeapps(text: str, mime: str, desktop_id: str, *, remove: bool = False) -> str:
    """``text`` (a mimeapps.list) with ``desktop_id`` made (or unmade) the default for ``mime``
    and put first (or taken out) among its added associations; every other line stays."""
    lines = text.splitlines()

    def apps_after(name: str, apps: list[str]) -> list[str]:
        others = [a for a in apps if a != desktop_id]
        if remove:
            return others
        return [desktop_id] if name == "Default Applications" else [desktop_id, *others]

    for name in ("Default Applications", "Added Associations"):
        if f"[{name}]" not in lines:
            if remove:
                continue
            if lines and lines[-1].strip():
                lines.append("")
            lines.append(f"[{name}]")
        start = lines.index(f"[{name}]")
        end = start + 1
        while end < len(lines) and not lines[end].startswith("["):
            end += 1
        for i in range(start + 1, end):
            key, sep, value = lines[i].partition("=")
            if sep and key.strip() == mime:
                apps = apps_after(name, [a for a in value.strip().split(";") if a])
                if apps:
                    lines[i] = f"{mime}={';'.join(apps)};"
                else:
                    del lines[i]
                break
        else:
            if not remove:
                while end > start + 1 and not lines[end - 1].strip():
                    end -= 1
                lines.insert(end, f"{mime}={desktop_id};")
    return "\n".join(lines) + "\n" if lines else ""
