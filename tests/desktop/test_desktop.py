"""Desktop integration: one launcher description, a plan per platform.

The Windows and macOS plans are checked for exactly what would be written and run; the Linux
one is carried out under a temporary XDG home and checked with the freedesktop tools.
"""

import plistlib
import shutil
import struct
import subprocess
from pathlib import Path, PureWindowsPath

import pytest

from jupyter_orbit import desktop
from jupyter_orbit.desktop import icons, linux, macos

PY = "/opt/orbit tools/bin/python3"  # a space, as real install paths can have


def by_type(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def test_launcher_for_default_and_named_profile():
    default = desktop.launcher(python=PY)
    assert default.args == ("-P", "-m", "jupyter_orbit", "open") and default.claims_notebooks
    named = desktop.launcher("teaching", python=PY)
    assert named.args[-2:] == ("--profile", "teaching") and not named.claims_notebooks
    assert named.ident == "jupyter-orbit-teaching" and "teaching" in named.name


def test_icons_hold_the_png():
    png = desktop.launcher().png
    assert icons.png_size(png) == (256, 256)
    ico = icons.ico_from_png(png)
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    w, h, _, _, planes, bpp, size, offset = struct.unpack("<BBBBHHII", ico[6:22])
    assert (reserved, kind, count, w, h, planes, bpp) == (0, 1, 1, 0, 0, 1, 32)
    assert ico[offset : offset + size] == png
    icns = icons.icns_from_png(png)
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    assert icns[8:12] == b"ic08" and icns[16:] == png
    with pytest.raises(ValueError):
        icons.png_size(b"GIF89a...")


def test_exec_quoting_follows_the_desktop_entry_spec():
    assert linux.exec_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert linux.exec_quote("/opt/my tools/python") == '"/opt/my tools/python"'
    assert linux.exec_quote('a"b') == '"a\\\\"b"'  # \" escaped again as a string value
    assert linux.exec_quote("50%") == "50%%"
    entry = linux.desktop_entry(desktop.launcher(python=PY))
    assert 'Exec="/opt/orbit tools/bin/python3" -P -m jupyter_orbit open %f\n' in entry
    assert "MimeType=application/x-ipynb+json;\n" in entry


def test_mimeapps_edit_keeps_everything_else():
    before = (
        "# mine\n[Default Applications]\ntext/html=firefox.desktop\n"
        "application/x-ipynb+json=code.desktop;\n\n[Added Associations]\n"
        "application/x-ipynb+json=code.desktop;\n"
    )
    after = linux.edit_mimeapps(before, desktop.NOTEBOOK_MIME, "jupyter-orbit.desktop")
    assert after.startswith("# mine\n[Default Applications]\ntext/html=firefox.desktop\n")
    assert "application/x-ipynb+json=jupyter-orbit.desktop;\n\n[Added" in after
    assert after.endswith("application/x-ipynb+json=jupyter-orbit.desktop;code.desktop;\n")
    assert linux.edit_mimeapps(after, desktop.NOTEBOOK_MIME, "jupyter-orbit.desktop") == after
    undone = linux.edit_mimeapps(after, desktop.NOTEBOOK_MIME, "jupyter-orbit.desktop", remove=True)
    assert "jupyter-orbit" not in undone and "text/html=firefox.desktop" in undone
    assert "application/x-ipynb+json=code.desktop;" in undone


def test_windows_plan():
    home = Path("C:/Users/ada")
    env = {
        "APPDATA": r"C:\Users\ada\AppData\Roaming",
        "LOCALAPPDATA": r"C:\Users\ada\AppData\Local",
    }
    what = desktop.launcher(python=r"C:\Program Files\Orbit\python.exe")
    actions = desktop.plan("windows", what, env, home)
    (ico,) = by_type(actions, desktop.WriteFile)
    assert PureWindowsPath(ico.path) == PureWindowsPath(
        r"C:\Users\ada\AppData\Local\Jupyter Orbit\orbit.ico"
    )
    assert ico.data == icons.ico_from_png(what.png)
    (ps,) = by_type(actions, desktop.RunCommand)
    assert ps.argv[0] == "powershell" and not ps.optional
    script = ps.argv[-1]
    lnk = r"C:\Users\ada\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Jupyter Orbit.lnk"
    assert f"CreateShortcut('{lnk}')" in script
    assert r"$s.TargetPath = 'C:\Program Files\Orbit\pythonw.exe'" in script  # no console window
    assert "$s.Arguments = '-P -m jupyter_orbit open'" in script
    reg = {(r.key, r.name): r.value for r in by_type(actions, desktop.RegistryValue)}
    assert reg[(r"Software\Classes\.ipynb", "")] == "JupyterOrbit.Notebook"
    assert reg[(r"Software\Classes\.ipynb\OpenWithProgids", "JupyterOrbit.Notebook")] == ""
    assert reg[(r"Software\Classes\JupyterOrbit.Notebook\shell\open\command", "")] == (
        '"C:\\Program Files\\Orbit\\pythonw.exe" -P -m jupyter_orbit open "%1"'
    )
    assert reg[(r"Software\Classes\JupyterOrbit.Notebook\DefaultIcon", "")].endswith("orbit.ico,0")
    # a profile's own launcher: a shortcut, no claim on .ipynb
    named = desktop.plan("windows", desktop.launcher("teaching", python=what.python), env, home)
    assert not by_type(named, desktop.RegistryValue)
    assert "Jupyter Orbit (teaching).lnk" in by_type(named, desktop.RunCommand)[0].argv[-1]
    undo = desktop.plan("windows", what, env, home, uninstall=True)
    assert any(
        r.delete and r.key.endswith("JupyterOrbit.Notebook")
        for r in by_type(undo, desktop.RegistryValue)
    )


def test_windows_quotes_odd_names_for_powershell():
    what = desktop.launcher("o'brien", python=r"C:\py\python.exe")
    script = by_type(desktop.plan("windows", what, {}, Path("C:/Users/o")), desktop.RunCommand)[
        0
    ].argv[-1]
    assert "Jupyter Orbit (o''brien).lnk" in script


def test_macos_plan():
    home = Path("/Users/ada")
    what = desktop.launcher(python=PY)
    actions = desktop.plan("macos", what, {}, home)
    app = home / "Applications" / "Jupyter Orbit.app"
    assert actions[0] == desktop.RemovePath(app)
    compile_cmd = actions[1]
    assert compile_cmd.argv[:3] == ("osacompile", "-o", str(app)) and not compile_cmd.optional
    script = [a for i, a in enumerate(compile_cmd.argv) if compile_cmd.argv[i - 1] == "-e"]
    assert script[0] == "on run" and "on open theItems" in script
    assert any('quoted form of "/opt/orbit tools/bin/python3"' in line for line in script)
    assert any("quoted form of POSIX path of anItem" in line for line in script)
    (icns,) = by_type(actions, desktop.WriteFile)
    assert icns.path == app / "Contents" / "Resources" / "applet.icns"
    (plist,) = by_type(actions, desktop.MergePlist)
    assert plist.path == app / "Contents" / "Info.plist"
    doc = plist.values["CFBundleDocumentTypes"][0]
    assert doc["LSItemContentTypes"] == ["org.jupyter.ipynb"] and doc["LSHandlerRank"] == "Default"
    uti = plist.values["UTImportedTypeDeclarations"][0]
    assert uti["UTTypeTagSpecification"]["public.filename-extension"] == ["ipynb"]
    plistlib.dumps(plist.values)  # a valid property list
    tools = [a.argv[0] for a in by_type(actions, desktop.RunCommand)]
    assert tools == ["osacompile", "codesign", macos.LSREGISTER]


def test_applescript_strings_are_escaped():
    what = desktop.launcher(python='/odd "dir"\\x/python')
    line = macos.applet_script(what)[1]
    assert 'quoted form of "/odd \\"dir\\"\\\\x/python"' in line


def test_unknown_platform():
    from jupyter_orbit.errors import InputError

    with pytest.raises(InputError, match="unknown platform"):
        desktop.plan("amiga", desktop.launcher(), {}, Path("/"))


# -- carried out, under a temporary XDG home -------------------------------------------------


@pytest.mark.integration
def test_linux_install_and_uninstall_under_a_temporary_xdg_home(orbit):
    data = orbit.user_home / ".local" / "share"
    config = orbit.user_home / ".config"
    config.mkdir(parents=True)
    (config / "mimeapps.list").write_text("[Default Applications]\ntext/html=firefox.desktop\n")
    r = orbit.run("install-desktop")
    assert r.returncode == 0, r.stderr
    entry = data / "applications" / "jupyter-orbit.desktop"
    assert entry.exists()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "jupyter-orbit.svg").exists()
    assert (data / "icons" / "hicolor" / "256x256" / "apps" / "jupyter-orbit.png").exists()
    assert (data / "mime" / "packages" / "jupyter-orbit.xml").exists()
    mimeapps = (config / "mimeapps.list").read_text()
    assert "text/html=firefox.desktop" in mimeapps
    assert "application/x-ipynb+json=jupyter-orbit.desktop;" in mimeapps
    text = entry.read_text()
    assert "Exec=" in text and "-P -m jupyter_orbit open %f" in text

    if validate := shutil.which("desktop-file-validate"):
        v = subprocess.run([validate, str(entry)], capture_output=True, text=True)
        assert v.returncode == 0 and "error" not in v.stdout, v.stdout
    if shutil.which("update-mime-database"):  # the user MIME database was built from our XML
        assert "application/x-ipynb+json" in (data / "mime" / "globs2").read_text()
    if xdg_mime := shutil.which("xdg-mime"):
        q = subprocess.run(
            [xdg_mime, "query", "default", "application/x-ipynb+json"],
            capture_output=True,
            text=True,
            env={**orbit.env, "XDG_DATA_DIRS": f"{data}:/usr/share", "XDG_CURRENT_DESKTOP": ""},
        )
        assert q.stdout.strip() == "jupyter-orbit.desktop", q.stderr

    # the Exec line runs Orbit: the command it names works
    exec_line = next(ln for ln in text.splitlines() if ln.startswith("Exec="))
    python = exec_line.removeprefix("Exec=").split(" -P -m ")[0].strip('"')
    help_ = subprocess.run(
        [python, "-P", "-m", "jupyter_orbit", "open", "--help"], capture_output=True, text=True
    )
    assert help_.returncode == 0 and "running server" in help_.stdout

    r = orbit.run("install-desktop", "--uninstall")
    assert r.returncode == 0, r.stderr
    assert not entry.exists()
    assert not (data / "icons" / "hicolor" / "scalable" / "apps" / "jupyter-orbit.svg").exists()
    assert "jupyter-orbit" not in (config / "mimeapps.list").read_text()
    assert "text/html=firefox.desktop" in (config / "mimeapps.list").read_text()


@pytest.mark.integration
def test_install_desktop_dry_run_writes_nothing(orbit):
    r = orbit.run("install-desktop", "--dry-run", "--platform", "windows")
    assert r.returncode == 0, r.stderr
    assert "Start Menu" in r.stdout and "JupyterOrbit.Notebook" in r.stdout
    r = orbit.run("install-desktop", "--platform", "macos")
    assert r.returncode == 2 and "--dry-run" in r.stderr
    assert (
        not (orbit.user_home / ".local").exists()
        and not (orbit.user_home / "Applications").exists()
    )
