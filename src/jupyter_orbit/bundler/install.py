"""``orbit bundle install FILE``: verify, add as a layer, and make the machine ready offline.

Every member's sha256 is checked while the file is unpacked into a private folder, which
becomes the installed bundle only when all of them matched (``bundle.store``); nothing
unverified is ever served. Then, from the verified copy:

- its data sets join the data store (each checked again against the hash it is named by);
- its container images are loaded into the docker engine (``docker load``), once;
- the profile's server environment is built from the stand-in registries (started for this
  command and stopped after it), so ``orbit up`` starts at once with no network. A bundle made
  without it (``--no-server``) leaves that to the first ``orbit up``, which says what it lacks.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_orbit import offline
from jupyter_orbit.bundle.serve import serving
from jupyter_orbit.bundle.store import BundleStore, InstalledBundle, Layers
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress, Progress


@dataclass
class Installed:
    bundle: InstalledBundle
    done: list[str] = field(default_factory=list)  # what was done, said to the user
    notes: list[str] = field(default_factory=list)  # what was not, and why


def install(
    source: Path, paths: Paths, profile: str, progress: Progress | None = None
) -> Installed:
    from jupyter_orbit.data.store import DataStore

    progress = progress or NullProgress()
    store = BundleStore(paths.bundles_dir)
    bundle = store.install(source, progress)
    out = Installed(bundle)
    m = bundle.manifest
    out.done.append(
        f"verified and installed {bundle.label}: {len(m.members)} files, every sha256 checked "
        f"({paths.bundles_dir / bundle.id})"
    )
    data = DataStore(paths.datasets_dir)
    for member in m.of_kind("dataset"):
        _, digest = data.add_file(bundle.file(member))
        if digest != member.sha256:  # the manifest named it by this hash; never trust one layer
            raise OrbitError(f"{member.path} changed after it was verified", "install it again")
    if m.of_kind("dataset"):
        out.done.append(f"added {len(m.of_kind('dataset'))} data set(s) to {paths.datasets_dir}")
    if images := m.of_kind("image"):
        from jupyter_orbit.bundle.registries import ImageLoader

        with tempfile.TemporaryDirectory(prefix="orbit-load-") as tmp:
            loader = ImageLoader(Layers([bundle]), Path(tmp)).start(progress)
        out.done.append(f"loaded {len(images)} image(s) into docker: {', '.join(loader.loaded)}")
    prepare_profile(paths, profile, out, progress)
    return out


def prepare_profile(paths: Paths, profile: str, out: Installed, progress: Progress) -> None:
    """Build the profile's server environment from the stand-ins, when the bundles carry it."""
    from jupyter_orbit.profiles import server_env
    from jupyter_orbit.profiles.store import ProfileStore

    prof = paths.profile(profile)
    try:
        settings = ProfileStore(paths).settings(profile, create=True)
        if server_env.lookup(paths, settings) is not None:
            return
        with serving(paths, prof, progress) as stand_ins, offline.using(stand_ins):
            env = server_env.ensure(paths, settings, progress)
    except OrbitError as e:
        out.notes.append(
            f"profile {profile}'s server environment was not built from the bundles: {e.message}"
        )
        return
    out.done.append(
        f"built profile {profile}'s server environment from the bundles ({env.location})"
    )
