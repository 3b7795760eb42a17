"""macOS: an ``.app`` in ``~/Applications`` that opens notebooks with Orbit.

Finder hands the files to open to an application as an Apple Event, not as arguments, so a
shell-script bundle never sees them; an AppleScript applet does (its ``on open`` handler).
``osacompile`` makes the applet; Orbit then gives it its icon and declares in its Info.plist
that it opens Jupyter notebooks (``org.jupyter.ipynb``, conforming to JSON), signs it again
ad hoc (the plist changed) and registers it with Launch Services. Making it the default for
``.ipynb`` is the user's choice in Finder (Get Info → Open with → Change All), which macOS
keeps to itself.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_orbit.desktop import (
    NOTEBOOK_MIME,
    NOTEBOOK_UTI,
    Action,
    Launcher,
    MergePlist,
    RemovePath,
    RunCommand,
    WriteFile,
)
from jupyter_orbit.desktop.icons import icns_from_png

LSREGISTER = (
    "/System/Library/Frameworks/CoreServices.framework/Frameworks/LaunchServices.framework"
    "/Support/lsregister"
)


def app_path(what: Launcher, home: Path) -> Path:
    return home / "Applications" / f"{what.name}.app"


def _as_string(s: str) -> str:
    """An AppleScript string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def applet_script(what: Launcher) -> list[str]:
    """The applet's AppleScript, one line per ``osacompile -e``."""
    command = ' & " " & '.join(f"quoted form of {_as_string(a)}" for a in [what.python, *what.args])
    detach = '" > /dev/null 2>&1 &"'
    return [
        "on run",
        f"  do shell script {command} & {detach}",
        "end run",
        "on open theItems",
        "  repeat with anItem in theItems",
        f'    do shell script {command} & " " & quoted form of POSIX path of anItem & {detach}',
        "  end repeat",
        "end open",
    ]


def info_plist(what: Launcher) -> dict:
    ident = "org.jupyter.orbit" + (f".{what.profile}" if what.profile else "")
    return {
        "CFBundleName": what.name,
        "CFBundleDisplayName": what.name,
        "CFBundleIdentifier": ident,
        "CFBundleIconFile": "applet",
        "LSUIElement": False,
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": "Jupyter Notebook",
                "CFBundleTypeRole": "Editor",
                "LSHandlerRank": "Default" if what.claims_notebooks else "Alternate",
                "LSItemContentTypes": [NOTEBOOK_UTI],
                "CFBundleTypeExtensions": ["ipynb"],
                "CFBundleTypeIconFile": "applet",
            }
        ],
        "UTImportedTypeDeclarations": [
            {
                "UTTypeIdentifier": NOTEBOOK_UTI,
                "UTTypeDescription": "Jupyter Notebook",
                "UTTypeConformsTo": ["public.json", "public.data"],
                "UTTypeTagSpecification": {
                    "public.filename-extension": ["ipynb"],
                    "public.mime-type": [NOTEBOOK_MIME],
                },
            }
        ],
    }


def install(what: Launcher, environ: dict[str, str], home: Path) -> list[Action]:
    app = app_path(what, home)
    compile_args: list[str] = ["osacompile", "-o", str(app)]
    for line in applet_script(what):
        compile_args += ["-e", line]
    return [
        RemovePath(app),
        RunCommand(tuple(compile_args), "make the applet", optional=False),
        WriteFile(app / "Contents" / "Resources" / "applet.icns", icns_from_png(what.png)),
        MergePlist(app / "Contents" / "Info.plist", info_plist(what)),
        RunCommand(("codesign", "--force", "--sign", "-", str(app)), "sign the changed applet"),
        RunCommand((LSREGISTER, "-f", str(app)), "register it with Launch Services"),
    ]


def uninstall(what: Launcher, environ: dict[str, str], home: Path) -> list[Action]:
    app = app_path(what, home)
    return [
        RunCommand((LSREGISTER, "-u", str(app)), "unregister it from Launch Services"),
        RemovePath(app),
    ]
