"""Windows: a Start-menu shortcut, an icon, and ``.ipynb`` opening with Orbit (per user).

The association lives under ``HKEY_CURRENT_USER\\Software\\Classes`` (no administrator rights):
a ProgID ``JupyterOrbit.Notebook`` with its icon and open command, listed in ``.ipynb``'s
"Open with" choices, and made the extension's default class. Windows 10 and later keep the
user's own choice above that (a ``UserChoice`` key only the Settings app may write), so
Windows may ask once which app to use. The shortcut (a ``.lnk``, a binary format) is made by
Windows' own ``WScript.Shell`` through PowerShell. The launcher runs ``pythonw.exe`` so that no
console window flashes up.
"""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

from jupyter_orbit.desktop import (
    Action,
    Launcher,
    RegistryValue,
    RemovePath,
    RunCommand,
    WriteFile,
)
from jupyter_orbit.desktop.icons import ico_from_png

PROGID = "JupyterOrbit.Notebook"
_CLASSES = "Software\\Classes"


def _folders(environ: dict[str, str]) -> tuple[PureWindowsPath, PureWindowsPath]:
    # Always set on Windows; when planning elsewhere (--dry-run) the plan shows the variables.
    return (
        PureWindowsPath(environ.get("APPDATA") or "%APPDATA%"),
        PureWindowsPath(environ.get("LOCALAPPDATA") or "%LOCALAPPDATA%"),
    )


def pythonw(python: str) -> str:
    p = PureWindowsPath(python)
    return str(p.with_name("pythonw.exe")) if p.name.lower() == "python.exe" else str(p)


def command_line(argv: list[str]) -> str:
    """A Windows command line for ``argv`` (each argument quoted when it needs to be)."""
    import subprocess

    return subprocess.list2cmdline(argv)


def _ps_quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def shortcut_script(
    lnk: PureWindowsPath, target: str, arguments: str, icon: PureWindowsPath, what: Launcher
) -> str:
    return "; ".join(
        [
            "$s = (New-Object -ComObject WScript.Shell).CreateShortcut("
            + _ps_quote(str(lnk))
            + ")",
            "$s.TargetPath = " + _ps_quote(target),
            "$s.Arguments = " + _ps_quote(arguments),
            "$s.IconLocation = " + _ps_quote(f"{icon},0"),
            "$s.Description = " + _ps_quote(what.comment),
            "$s.WorkingDirectory = $env:USERPROFILE",
            "$s.Save()",
        ]
    )


def _paths(what: Launcher, environ: dict[str, str], home: Path) -> dict[str, PureWindowsPath]:
    appdata, local = _folders(environ)
    return {
        "icon": local / "Jupyter Orbit" / "orbit.ico",
        "lnk": appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs" / f"{what.name}.lnk",
    }


def install(what: Launcher, environ: dict[str, str], home: Path) -> list[Action]:
    p = _paths(what, environ, home)
    target = pythonw(what.python)
    actions: list[Action] = [
        WriteFile(Path(p["icon"]), ico_from_png(what.png)),
        RunCommand(
            (
                "powershell",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-Command",
                shortcut_script(p["lnk"], target, command_line(list(what.args)), p["icon"], what),
            ),
            "create the Start-menu shortcut",
            optional=False,
        ),
    ]
    if what.claims_notebooks:
        progid = f"{_CLASSES}\\{PROGID}"
        actions += [
            RegistryValue(progid, "", "Jupyter notebook"),
            RegistryValue(f"{progid}\\DefaultIcon", "", f"{p['icon']},0"),
            RegistryValue(
                f"{progid}\\shell\\open\\command",
                "",
                command_line([target, *what.args]) + ' "%1"',
            ),
            RegistryValue(f"{_CLASSES}\\.ipynb", "", PROGID),
            RegistryValue(f"{_CLASSES}\\.ipynb", "Content Type", "application/x-ipynb+json"),
            RegistryValue(f"{_CLASSES}\\.ipynb\\OpenWithProgids", PROGID, ""),
        ]
    return actions


def uninstall(what: Launcher, environ: dict[str, str], home: Path) -> list[Action]:
    p = _paths(what, environ, home)
    actions: list[Action] = [RemovePath(Path(p["lnk"]))]
    if what.claims_notebooks:
        actions += [
            RemovePath(Path(p["icon"])),
            RegistryValue(f"{_CLASSES}\\{PROGID}", delete=True),
            RegistryValue(f"{_CLASSES}\\.ipynb\\OpenWithProgids", PROGID, delete=True),
        ]
    return actions


def set_registry(action: RegistryValue) -> None:  # pragma: no cover - runs on Windows only
    import winreg  # type: ignore[import-not-found]

    root = winreg.HKEY_CURRENT_USER
    if action.delete:
        if action.name:  # one value of the key
            try:
                with winreg.OpenKey(root, action.key, 0, winreg.KEY_SET_VALUE) as k:
                    winreg.DeleteValue(k, action.name)
            except FileNotFoundError:
                pass
            return
        _delete_tree(winreg, root, action.key)
        return
    with winreg.CreateKeyEx(root, action.key, 0, winreg.KEY_SET_VALUE) as k:
        winreg.SetValueEx(k, action.name or None, 0, winreg.REG_SZ, action.value)
    import ctypes

    ctypes.windll.shell32.SHChangeNotify(0x08000000, 0, None, None)  # associations changed


def _delete_tree(winreg: object, root: object, key: str) -> None:  # pragma: no cover
    try:
        with winreg.OpenKey(root, key, 0, winreg.KEY_ALL_ACCESS) as k:  # type: ignore[attr-defined]
            while True:
                try:
                    child = winreg.EnumKey(k, 0)  # type: ignore[attr-defined]
                except OSError:
                    break
                _delete_tree(winreg, root, f"{key}\\{child}")
        winreg.DeleteKey(root, key)  # type: ignore[attr-defined]
    except FileNotFoundError:
        pass
