"""A torch notebook on this machine's NVIDIA GPU, locally and in a container, timed and recorded.

    .venv/bin/python bench/hardware_gpu.py [--as-of 2025-06-01] [--keep]

On a machine without an NVIDIA GPU it says "no GPU here" (with what detection found and what a
GPU would need) and exits 0: nothing to measure. With one, it runs a notebook that declares
``metadata.orbit.hardware.gpu = "nvidia"`` and asks for torch:

1. ``orbit run --no-server`` with the local engine (the environment is built first, untimed,
   then the run is timed three times);
2. ``orbit run --engine docker`` the same way: the kernel's container is given the declared GPU
   (an Engine API device request through the NVIDIA Container Toolkit, or CDI names), and the
   run records whether CUDA was available there.

Each run's cell reports ``torch.cuda.is_available()``, the device name and the time of a 4096²
matrix product on the GPU. Everything is printed as Markdown and written with the machine's
detection to ``bench/results/hardware-gpu-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import REPO, VENV_BIN, BenchError, run, tool_env
from jupyter_orbit.hardware.detect import detect

CELL = """\
import time, torch
print("cuda", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
    x = torch.randn(4096, 4096, device="cuda")
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        y = x @ x
    torch.cuda.synchronize()
    print("matmul_ms", (time.perf_counter() - t) * 100)
"""


def notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["orbit"] = {"packages": {"pypi": ["torch"]}, "hardware": {"gpu": "nvidia"}}
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nbformat.write(nb, path)


def outputs(path: Path) -> dict[str, str]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


def scenario(name: str, extra: list[str], work: Path, env: dict, as_of: str) -> dict:
    nb = work / "torch.ipynb"
    base = [str(VENV_BIN / "orbit"), "run", str(nb), "--yes", "--no-server", "--as-of", as_of]
    out = work / f"out-{name}.ipynb"
    run([*base, *extra, "-o", str(out)], cwd=work, env=env, timeout=3600)  # builds, untimed
    seconds = []
    for _ in range(3):
        done = run([*base, *extra, "-o", str(out)], cwd=work, env=env, timeout=1800)
        seconds.append(done.seconds)
    return {"seconds": seconds, "median": statistics.median(seconds), "cell": outputs(out)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--as-of", default="2025-06-01")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    found = detect()
    gpus = found.gpus("nvidia")
    if not gpus:
        print("no GPU here: this machine has no NVIDIA GPU, so there is nothing to measure")
        others = [f"{g.vendor} {g.name} ({g.path})" for g in found.gpus()]
        if others:
            print(f"  (it has: {', '.join(others)}; this benchmark is for CUDA)")
        for note in found.notes:
            print(f"  note: {note}")
        print(
            "  a GPU would need: an NVIDIA GPU with its driver (nvidia-smi lists it), and for the"
        )
        print("  container run the NVIDIA Container Toolkit or CDI specs")
        return 0
    work = Path(tempfile.mkdtemp(prefix="orbit-bench-gpu-"))
    env = tool_env({"ORBIT_HOME": str(work / "orbit-home")})
    notebook(work / "torch.ipynb")
    record: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "detection": found.to_dict(),
        "as_of": args.as_of,
    }
    failed = False
    for name, extra in (("local", []), ("container", ["--engine", "docker"])):
        try:
            record[name] = scenario(name, extra, work, env, args.as_of)
        except BenchError as e:
            record[name] = {"error": str(e)}
            failed = True
    print(f"# torch on {gpus[0].name} (CUDA {found.cuda_version})\n")
    print("| where | cuda | median s | matmul ms |")
    print("| --- | --- | --- | --- |")
    for name in ("local", "container"):
        r = record[name]
        if "error" in r:
            print(f"| {name} | failed: {r['error'].splitlines()[0]} | | |")
            continue
        c = r["cell"]
        print(f"| {name} | {c.get('cuda')} | {r['median']:.1f} | {c.get('matmul_ms', '-')} |")
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    out = results / f"hardware-gpu-{record['date']}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"\nrecorded in {out}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
