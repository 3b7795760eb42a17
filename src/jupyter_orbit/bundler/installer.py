"""``orbit bundle --installer -o orbit-installer.sh``: Orbit for a machine with no network.

One shell script (Linux, macOS) with a tar payload after its last line: uv, and a bundle
holding Orbit's own wheel with every wheel it depends on, the profile's server environment and
the default Python kernel's environment (plus whatever targets were named). Run with
``sh orbit-installer.sh`` on a machine with Python 3.11 or later, it

1. checks the payload against the sha256 sums it carries;
2. installs Orbit as a uv tool from the bundle's wheels (``uv tool install --offline
   --no-index``), for the first Python 3.11+ it finds;
3. installs the bundle (``orbit bundle install``: every member verified, the server
   environment built from the stand-in registries);
4. adds the desktop entry (``orbit install-desktop``) and says how to start Orbit.

Nothing is fetched: every step runs with uv offline and the stand-ins on loopback. The script
and its payload are reproducible (sorted, dated 1980, owned by nobody).

For Windows (an output ending in ``.zip``): a zip with ``install.ps1``, ``uv.exe`` (from uv's
own Windows wheel, which the bundle carries as one of Orbit's dependencies) and a bundle of
64-bit Windows wheels, resolved for Windows (``uv pip compile --python-platform``); run
``powershell -ExecutionPolicy Bypass -File install.ps1`` where a Python 3.11+ is installed
(the ``py`` launcher finds it). Built and checked here; not yet run on Windows by a test.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from jupyter_orbit.bundle.archive import Manifest
from jupyter_orbit.bundler import build
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices
from jupyter_orbit.progress import NullProgress, Progress

MARKER = "__ORBIT_PAYLOAD_BELOW__"
BUNDLE = "orbit.orbit-bundle.tar.gz"

SCRIPT = r"""#!/bin/sh
# Jupyter Orbit's offline installer (written by `orbit bundle --installer`).
# Installs Orbit as a uv tool, its desktop entry and the default profile, with no network.
set -eu
say() { printf '%s\n' "$*" >&2; }
fail() { say "orbit-installer: $*"; exit 1; }
python=""
for candidate in ${ORBIT_PYTHON:-} python@PYTHON@ python3.14 python3.13 python3.12 \
    python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
      'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    python=$(command -v "$candidate"); break
  fi
done
[ -n "$python" ] || fail "no Python 3.11 or later found (set ORBIT_PYTHON to one)"
work=$(mktemp -d "${TMPDIR:-/tmp}/orbit-installer.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
line=$(awk '/^__ORBIT_PAYLOAD_BELOW__$/ { print NR + 1; exit 0 }' "$0")
[ -n "$line" ] || fail "the payload is missing: get the installer again"
tail -n +"$line" "$0" | tar -x -C "$work" -f - || fail "the payload is damaged: get it again"
cd "$work"
if command -v sha256sum >/dev/null 2>&1; then check="sha256sum -c --quiet";
else check="shasum -a 256 -c --quiet"; fi
$check SHA256SUMS >/dev/null || fail "the payload does not match its sha256 sums: get it again"
mkdir wheels
tar -x -z -f @BUNDLE@ wheels || fail "cannot read the bundle's wheels"
chmod +x ./uv
export UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
say "installing Jupyter Orbit @VERSION@ for $python (no network)"
./uv tool install --offline --no-index --find-links ./wheels --python "$python" --force \
    jupyter-orbit==@VERSION@ >&2 || fail "uv could not install Orbit from the bundle"
bin=$(./uv tool dir --bin)
orbit="$bin/orbit"
[ -x "$orbit" ] || fail "orbit was not installed into $bin"
"$orbit" bundle install "$work/@BUNDLE@" >&2 || fail "the bundle did not install"
"$orbit" install-desktop >&2 || say "orbit-installer: no desktop entry (see the message above)"
case ":$PATH:" in *":$bin:"*) start="orbit" ;; *) start="$orbit" ;; esac
say ""
say "Jupyter Orbit is installed. Start it with:"
say "    $start"
say "(or open it from your desktop's applications). Packages come from the installed bundle:"
say "    $start bundle list"
exit 0
"""


def plan_installer(
    targets: Sequence[str], *, paths: Paths, profile: str, choices: Choices
) -> build.BundlePlan:
    return build.plan_bundle(targets, paths=paths, profile=profile, choices=choices, portable=True)


def write_installer(
    targets: Sequence[str],
    out: Path,
    *,
    paths: Paths,
    profile: str,
    choices: Choices,
    progress: Progress | None = None,
) -> list[str]:
    """Write the installer ``out``; returns what to tell the user."""
    from jupyter_orbit import __version__
    from jupyter_orbit.bundle.archive import _atomic_out, human_size
    from jupyter_orbit.uvcli import uv_bin

    progress = progress or NullProgress()
    with tempfile.TemporaryDirectory(prefix="orbit-installer-") as tmp:
        plan = build.plan_bundle(
            targets,
            paths=paths,
            profile=profile,
            choices=choices,
            portable=True,
            progress=progress,
        )
        if not any(p.label.startswith("profile:") for p in plan.parts):
            raise OrbitError("the installer needs the profile's server environment", None)
        bundle = Path(tmp) / BUNDLE
        manifest = build.write(plan, bundle, paths=paths, name="orbit-installer", progress=progress)
        if not any(m.name.startswith("jupyter_orbit-") for m in manifest.of_kind("wheel")):
            raise OrbitError(
                "Orbit's own wheel is not in the bundle",
                "install Orbit from its source folder or from an index, then try again",
            )
        python = next(p.python for p in plan.parts if p.label.startswith("profile:"))
        script = (
            SCRIPT.replace("@VERSION@", __version__)
            .replace("@BUNDLE@", BUNDLE)
            .replace("@PYTHON@", python)  # the wheels are for this one first
        )
        files = {"uv": Path(uv_bin()), BUNDLE: bundle}
        sums = "".join(f"{_sha256(p)}  {name}\n" for name, p in sorted(files.items()))
        progress.step("writing", f"{out.name}")
        with _atomic_out(out) as f:
            f.write(script.encode() + MARKER.encode() + b"\n")
            with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, "SHA256SUMS", io.BytesIO(sums.encode()), len(sums), 0o644)
                for name, path in sorted(files.items()):
                    mode = 0o755 if name == "uv" else 0o644
                    with path.open("rb") as data:
                        _add(tar, name, data, path.stat().st_size, mode)
        out.chmod(out.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    size = human_size(out.stat().st_size)
    return [
        f"wrote {out} ({size}): Orbit {__version__}, uv, {len(manifest.members)} bundled files",
        f"on a machine with Python 3.11+ and no network: sh {out.name}",
    ]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            h.update(chunk)
    return h.hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: io.IOBase, size: int, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 315532800
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, data)  # type: ignore[arg-type]


PS1 = r"""# Jupyter Orbit's offline installer for Windows (written by `orbit bundle --installer`).
# Installs Orbit as a uv tool, its Start-menu entry and the default profile, with no network.
$ErrorActionPreference = "Stop"
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
function Fail($why) { Write-Error "orbit-installer: $why"; exit 1 }
foreach ($line in Get-Content (Join-Path $here "SHA256SUMS")) {
  $sum, $name = $line -split "  ", 2
  $got = (Get-FileHash -Algorithm SHA256 (Join-Path $here $name)).Hash.ToLower()
  if ($got -ne $sum) { Fail "$name does not match its sha256: get the installer again" }
}
$python = $env:ORBIT_PYTHON
if (-not $python) {
  foreach ($v in @("@PYTHON@", "3.14", "3.13", "3.12", "3.11")) {
    $found = & py "-$v" -c "import sys; print(sys.executable)" 2>$null
    if ($LASTEXITCODE -eq 0 -and $found) { $python = $found.Trim(); break }
  }
}
if (-not $python) { Fail "no Python 3.11 or later found (set ORBIT_PYTHON to one)" }
$work = Join-Path ([System.IO.Path]::GetTempPath()) ("orbit-installer-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path (Join-Path $work "wheels") | Out-Null
tar -x -z -f (Join-Path $here "@BUNDLE@") -C $work wheels
if ($LASTEXITCODE -ne 0) { Fail "cannot read the bundle's wheels" }
$env:UV_PYTHON_DOWNLOADS = "never"; $env:UV_NO_CONFIG = "1"
$uv = Join-Path $here "uv.exe"
Write-Host "installing Jupyter Orbit @VERSION@ for $python (no network)"
& $uv tool install --offline --no-index --find-links (Join-Path $work "wheels") `
    --python $python --force "jupyter-orbit==@VERSION@"
if ($LASTEXITCODE -ne 0) { Fail "uv could not install Orbit from the bundle" }
$bin = (& $uv tool dir --bin).Trim()
$orbit = Join-Path $bin "orbit.exe"
& $orbit bundle install (Join-Path $here "@BUNDLE@")
if ($LASTEXITCODE -ne 0) { Fail "the bundle did not install" }
& $orbit install-desktop
Remove-Item -Recurse -Force $work
Write-Host ""
Write-Host "Jupyter Orbit is installed. Start it with:"
Write-Host "    $orbit"
Write-Host "(or from the Start menu). Packages come from the installed bundle: orbit bundle list"
"""


def write_windows_installer(
    targets: Sequence[str],
    out: Path,
    *,
    paths: Paths,
    profile: str,
    choices: Choices,
    progress: Progress | None = None,
) -> list[str]:
    """Write the Windows installer zip ``out`` (see the module's doc); ``targets`` are refused
    (their environments are resolved for this machine)."""
    from jupyter_orbit import __version__
    from jupyter_orbit.bundle.archive import human_size

    progress = progress or NullProgress()
    with tempfile.TemporaryDirectory(prefix="orbit-installer-win-") as tmp:
        plan = build.plan_bundle(
            targets, paths=paths, profile=profile, choices=choices, windows=True, progress=progress
        )
        bundle = Path(tmp) / BUNDLE
        manifest = build.write(plan, bundle, paths=paths, name="orbit-installer", progress=progress)
        uv_exe = windows_uv(bundle, manifest, Path(tmp))
        python = next(p.python for p in plan.parts if p.label.startswith("profile:"))
        script = (
            PS1.replace("@VERSION@", __version__)
            .replace("@BUNDLE@", BUNDLE)
            .replace("@PYTHON@", python)
        )
        progress.step("writing", out.name)
        write_zip(out, script, {"uv.exe": uv_exe, BUNDLE: bundle})
    return [
        f"wrote {out} ({human_size(out.stat().st_size)}): Orbit {__version__} for 64-bit Windows, "
        f"uv, {len(manifest.members)} bundled files",
        "on Windows with Python 3.11+ and no network: unzip it, then "
        "powershell -ExecutionPolicy Bypass -File install.ps1",
    ]


def windows_uv(bundle: Path, manifest: Manifest, work: Path) -> Path:
    """``uv.exe`` out of the Windows wheel of uv that ``bundle`` carries, written into ``work``."""
    import zipfile

    wheels = [m for m in manifest.of_kind("wheel") if m.name.startswith("uv-")]
    if len(wheels) != 1:
        raise OrbitError("the bundle carries no single Windows wheel of uv", None)
    wheel = work / wheels[0].name
    with tarfile.open(bundle, "r:gz") as tar:
        member = tar.extractfile(wheels[0].path)
        if member is None:
            raise OrbitError(f"{wheels[0].path} is not a file in the bundle", None)
        wheel.write_bytes(member.read())
    with zipfile.ZipFile(wheel) as whl:
        exe = [n for n in whl.namelist() if n.endswith("/scripts/uv.exe")]
        if not exe:
            raise OrbitError(f"{wheel.name} holds no uv.exe", None)
        out = work / "uv.exe"
        out.write_bytes(whl.read(exe[0]))
    return out


def write_zip(out: Path, script: str, files: dict[str, Path]) -> None:
    """The Windows installer: ``install.ps1`` (CRLF), ``SHA256SUMS`` of ``files`` and the files,
    written atomically and reproducibly (sorted, dated 1980)."""
    import zipfile

    from jupyter_orbit.bundle.archive import _atomic_out

    sums = "".join(f"{_sha256(p)}  {name}\n" for name, p in sorted(files.items()))
    with _atomic_out(out) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(_zipinfo("SHA256SUMS"), sums.encode())
        z.writestr(_zipinfo("install.ps1"), script.replace("\n", "\r\n").encode())
        for name, path in sorted(files.items()):
            with path.open("rb") as src, z.open(_zipinfo(name), "w") as dst:
                while chunk := src.read(2**20):
                    dst.write(chunk)


def _zipinfo(name: str):
    import zipfile

    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info
