"""Pin arithmetic inside image builds (copied into Orbit's base image as /opt/orbit/bin/orbit-pins).

    orbit-pins floating BASE_LOCK [DECLARED...]
        uv flags that let the base's packages (the kernel's own: ipykernel and all it pulls in)
        resolve as new as the base has them, however old the notebook's date; a package the
        notebook itself declares stays dated. The local engine floats the kernel the same way.
    orbit-pins missing BASE_LOCK LOCK
        the lines of LOCK the base does not have at that version (option lines kept, comments
        dropped): what a kernel image installs over the base.

Standard library only, and no import of Orbit: it runs on the image's own Python.
"""

import re
import sys
from pathlib import Path


def _name(requirement: str) -> str:
    """PEP 503's normal form of a ``name==version`` line's name."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]).lower()


def _pin(line: str) -> tuple[str, str] | None:
    """(name, version) of a ``name==version`` line, else None."""
    line = line.strip()
    if "==" not in line or line.startswith("#"):
        return None
    name, _, version = line.partition("==")
    return _name(name), version.split(";")[0].strip()


def _pins(path: str) -> set[tuple[str, str]]:
    return {pin for line in Path(path).read_text().splitlines() if (pin := _pin(line))}


def floating(base_lock: str, declared: list[str]) -> list[str]:
    keep_dated = {_name(d) for d in declared}
    names = sorted({name for name, _ in _pins(base_lock)} - keep_dated)
    return [f"--exclude-newer-package={name}=false" for name in names]


def missing(base_lock: str, lock: str) -> list[str]:
    base = _pins(base_lock)
    lines = [ln.strip() for ln in Path(lock).read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#") and _pin(ln) not in base]


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "floating":
        print(" ".join(floating(argv[1], argv[2:])))
        return 0
    if len(argv) == 3 and argv[0] == "missing":
        for line in missing(argv[1], argv[2]):
            print(line)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
