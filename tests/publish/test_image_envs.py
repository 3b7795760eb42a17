"""Environments side by side (image_envs, the program that runs inside a published image):
what names the old place is rewritten, packages held alike are moved to one place, and each
environment then sees exactly its own packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyter_orbit.publish import image_envs

OLD = "/opt/orbit/env"


def dist(site: Path, name: str, version: str, files: dict[str, str], *, requested=False) -> None:
    """A distribution installed into ``site``: its files and a RECORD listing them."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    record = []
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        record.append(f"{rel},sha256=x,{len(text)}")
    (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("uv\n")
    extra = [f"{info.name}/METADATA,,", f"{info.name}/INSTALLER,,", f"{info.name}/RECORD,,"]
    if requested:
        (info / "REQUESTED").write_text("")
        extra.append(f"{info.name}/REQUESTED,,")
    (info / "RECORD").write_text("\n".join(record + extra) + "\n")


def env(root: Path, name: str) -> tuple[Path, Path]:
    prefix = root / name
    site = prefix / "lib/python3.11/site-packages"
    site.mkdir(parents=True)
    (site / "_orbit_base.pth").write_text("/opt/orbit/base/lib/python3.11/site-packages\n")
    return prefix, site


def test_relocate_rewrites_scripts_activation_and_absolute_links(tmp_path: Path):
    prefix, _ = env(tmp_path, "e1")
    bin_dir = prefix / "bin"
    bin_dir.mkdir()
    (bin_dir / "f2py").write_text(f"#!{OLD}/bin/python\nimport sys\n")
    (bin_dir / "f2py").chmod(0o755)
    (bin_dir / "activate").write_text(f"VIRTUAL_ENV='{OLD}'\nexport VIRTUAL_ENV\n")
    (bin_dir / "other").write_text("#!/opt/orbit/envs/x/bin/python\n")  # not the old place
    (bin_dir / "blob").write_bytes(b"\0\x01" + OLD.encode())  # a binary: left alone
    (bin_dir / "python").symlink_to("/usr/bin/python3")
    (bin_dir / "tool").symlink_to(f"{OLD}/lib/tool")
    changed = image_envs.relocate(OLD, prefix)
    assert sorted(p.name for p in changed) == ["activate", "f2py", "tool"]
    assert (bin_dir / "f2py").read_text().startswith(f"#!{prefix}/bin/python\n")
    assert os.access(bin_dir / "f2py", os.X_OK)
    assert (bin_dir / "activate").read_text() == f"VIRTUAL_ENV='{prefix}'\nexport VIRTUAL_ENV\n"
    assert (bin_dir / "other").read_text() == "#!/opt/orbit/envs/x/bin/python\n"
    assert str((bin_dir / "tool").readlink()) == f"{prefix}/lib/tool"
    assert str((bin_dir / "python").readlink()) == "/usr/bin/python3"


def test_share_moves_identical_packages_once_and_keeps_the_rest(tmp_path: Path):
    e1, s1 = env(tmp_path, "e1")
    e2, s2 = env(tmp_path, "e2")
    e3, s3 = env(tmp_path, "e3")
    numpy = {"numpy/__init__.py": "v = '2.2.6'\n", "numpy.libs/lib.so": "so"}
    dist(s1, "numpy", "2.2.6", numpy, requested=True)
    dist(s2, "numpy", "2.2.6", numpy)  # a dependency there: still the same files
    dist(s3, "numpy", "2.3.0", {"numpy/__init__.py": "v = '2.3.0'\n"})  # another version
    dist(s2, "six", "1.17.0", {"six.py": "x = 1\n"})
    (s2 / "__pycache__").mkdir()
    (s2 / "__pycache__" / "six.cpython-311.pyc").write_text("pyc")
    dist(s1, "six", "1.17.0", {"six.py": "x = 1\n"})
    (s1 / "__pycache__").mkdir()
    (s1 / "__pycache__" / "six.cpython-311.pyc").write_text("pyc")

    shared = tmp_path / "shared"
    uses = image_envs.share(shared, [e1, e2, e3])

    assert (shared / "numpy-2.2.6" / "numpy" / "__init__.py").read_text() == "v = '2.2.6'\n"
    assert (shared / "numpy-2.2.6" / "numpy.libs" / "lib.so").exists()
    assert (shared / "six-1.17.0" / "__pycache__" / "six.cpython-311.pyc").exists()
    for site in (s1, s2):
        assert not (site / "numpy").exists() and not (site / "six.py").exists()
        assert not (site / "__pycache__" / "six.cpython-311.pyc").exists()
        pth = (site / image_envs.SHARED_PTH).read_text().split()
        assert pth == [str(shared / "numpy-2.2.6"), str(shared / "six-1.17.0")]
    assert (s3 / "numpy" / "__init__.py").read_text() == "v = '2.3.0'\n"  # its own, kept
    assert not (s3 / image_envs.SHARED_PTH).exists()
    assert uses[str(e3)] == []
    # Shared packages come after the environment's own, and before the base's.
    assert sorted([image_envs.SHARED_PTH, "_orbit_base.pth"])[0] == image_envs.SHARED_PTH


def test_namespace_packages_and_pth_files_are_not_shared(tmp_path: Path):
    e1, s1 = env(tmp_path, "e1")
    e2, s2 = env(tmp_path, "e2")
    for site in (s1, s2):
        dist(site, "google-a", "1", {"google/a/__init__.py": ""})
        dist(site, "google-b", "1", {"google/b/__init__.py": ""})
        dist(site, "setuptools", "80", {"setuptools/__init__.py": "", "distutils-hack.pth": ""})
    uses = image_envs.share(tmp_path / "shared", [e1, e2])
    assert uses == {str(e1): [], str(e2): []}
    assert (s1 / "google" / "a").is_dir() and (s2 / "setuptools").is_dir()


def test_a_shared_package_is_importable_and_others_are_not(tmp_path: Path):
    """Real interpreters: after sharing, each environment imports its own packages and the
    shared ones, and not the packages only another environment has."""
    import venv

    prefixes = []
    for name in ("e1", "e2"):
        prefix = tmp_path / name
        venv.create(prefix, with_pip=False)
        site = next(prefix.glob("lib/python3*/site-packages"))
        dist(site, "common", "1.0", {"common/__init__.py": "WHO = 'shared'\n"})
        prefixes.append(prefix)
    site2 = next(prefixes[1].glob("lib/python3*/site-packages"))
    dist(site2, "only2", "1.0", {"only2.py": "X = 2\n"})
    image_envs.share(tmp_path / "shared", prefixes)

    def run(prefix: Path, code: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [prefix / "bin" / "python", "-I", "-c", code], capture_output=True, text=True
        )

    for prefix in prefixes:
        r = run(prefix, "import common; print(common.WHO, common.__file__)")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"shared {tmp_path / 'shared'}")
    assert run(prefixes[1], "import only2").returncode == 0
    assert "No module named 'only2'" in run(prefixes[0], "import only2").stderr


def test_the_program_runs_on_its_own(tmp_path: Path):
    """As the image runs it: python3 -I on the file, no Orbit importable."""
    prefix, _ = env(tmp_path, "e1")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "x").write_text(f"#!{OLD}/bin/python\n")
    script = Path(image_envs.__file__)
    r = subprocess.run(
        [sys.executable, "-I", script, "relocate", OLD, str(prefix)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert (prefix / "bin" / "x").read_text() == f"#!{prefix}/bin/python\n"
    r = subprocess.run([sys.executable, "-I", script], capture_output=True, text=True)
    assert r.returncode == 2 and "relocate" in r.stderr
