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
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

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
