"""An environment's files against its RECORD hashes."""

import base64
import hashlib

from jupyter_orbit.engines import integrity


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_verify_finds_changed_and_missing_files(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "pkg").mkdir(parents=True)
    info = site / "pkg-1.0.dist-info"
    info.mkdir()
    files = {"pkg/__init__.py": b"x = 1\n", "pkg/data.txt": b"data\n", "pkg/gone.py": b"g\n"}
    for rel, data in files.items():
        (site / rel).write_bytes(data)
    rows = [f"{rel},{_hash(data)},{len(data)}" for rel, data in files.items()]
    (info / "RECORD").write_text("\n".join([*rows, "pkg-1.0.dist-info/RECORD,,"]) + "\n")
    assert integrity.verify(tmp_path).intact
    (site / "pkg" / "data.txt").write_bytes(b"changed\n")
    (site / "pkg" / "gone.py").unlink()
    report = integrity.verify(tmp_path)
    assert report.changed == ["lib/python3.11/site-packages/pkg/data.txt"]
    assert report.missing == ["lib/python3.11/site-packages/pkg/gone.py"]
    assert report.checked == 2 and report.shared == 0
