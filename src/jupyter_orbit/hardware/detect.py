"""What this machine has: GPUs, serial ports, VISA instruments and cameras, and what each needs.

Every file and command detection looks at goes through a ``Probe``: a root folder (``/`` on a real
machine, a fixture tree in tests) and a command runner. The libraries that enumerate devices
themselves (pyserial's port list, PyVISA's resource manager, NVML) are each called through one
function that ``detect`` takes as an argument, so tests can hand in what a library would report.

Nothing here raises for a missing tool or library: what could not be looked at becomes a note, and
a device that is present but unusable carries the ``Need`` that would make it usable (a group to
join, a udev rule, the NVIDIA Container Toolkit), with the exact fix.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

Runner = Callable[[Sequence[str], float], str | None]
SerialLister = Callable[[], list["SerialPort"]]
VisaLister = Callable[[float], tuple[list[str], str | None]]
NvmlReader = Callable[[], tuple[list[dict[str, str]], str | None]]

# The kinds of device detection looks for.
KINDS = ("gpu", "serial", "visa", "camera")
COMMAND_TIMEOUT = 10.0
VISA_TIMEOUT = 3.0
CDI_DIRS = ("etc/cdi", "var/run/cdi")
_MAX_CDI_BYTES = 1 << 20
_BIN_DIRS = ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin")
# PCI vendor ids of GPU makers, as /sys/class/drm/*/device/vendor spells them.
PCI_VENDORS = {"0x10de": "nvidia", "0x1002": "amd", "0x8086": "intel"}
# The group that owns each kind of device node on Debian and its derivatives.
GROUPS = {"serial": "dialout", "camera": "video", "render": "render", "kfd": "render"}
# USB vendor ids of boards that usually run MicroPython or CircuitPython (a hint, never a rule).
BOARD_VENDORS = {
    "2e8a": "Raspberry Pi (RP2040/RP2350)",
    "f055": "MicroPython pyboard",
    "239a": "Adafruit (CircuitPython)",
    "303a": "Espressif (ESP32-S2/S3/C3)",
    "1a86": "WCH CH340 USB-serial",
    "10c4": "Silicon Labs CP210x USB-serial",
    "0403": "FTDI USB-serial",
}


def run_command(argv: Sequence[str], timeout: float) -> str | None:
    """Run ``argv``; its stdout when it exits 0 in time, else None."""
    try:
        r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


@dataclass(frozen=True)
class Probe:
    """The one seam between detection and the machine: a root folder and a command runner.

    ``groups`` are the groups the user is in (None: the current process's); ``is_root`` says
    whether group membership matters at all. Fixture trees carry no ownership, so the group of a
    device node is read from the file only when ``root`` is ``/``.
    """

    root: Path = Path("/")
    run: Runner = run_command
    groups: frozenset[str] | None = None
    is_root: bool | None = None

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def glob(self, pattern: str) -> list[Path]:
        """Absolute paths (as seen on the machine) matching ``pattern`` (absolute, with globs)."""
        found = sorted(self.root.glob(pattern.lstrip("/")))
        return [Path("/") / p.relative_to(self.root) for p in found]

    def exists(self, absolute: str) -> bool:
        return os.path.lexists(self.path(absolute))

    def read(self, absolute: str, limit: int = 1 << 16) -> str | None:
        try:
            with self.path(absolute).open("rb") as f:
                return f.read(limit).decode(errors="replace").strip()
        except OSError:
            return None

    def which(self, name: str) -> str | None:
        """The absolute path of a tool in the usual folders under ``root``."""
        for folder in _BIN_DIRS:
            candidate = self.path(f"/{folder}/{name}")
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return f"/{folder}/{name}"
        return shutil.which(name) if self.root == Path("/") else None

    def command(self, argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str | None:
        exe = self.which(argv[0])
        if exe is None:
            return None
        return self.run([str(self.path(exe)), *argv[1:]], timeout)

    def user_groups(self) -> frozenset[str]:
        if self.groups is not None:
            return self.groups
        import grp

        names = set()
        for gid in os.getgroups():
            with contextlib.suppress(KeyError):
                names.add(grp.getgrgid(gid).gr_name)
        return frozenset(names)

    def root_user(self) -> bool:
        return os.geteuid() == 0 if self.is_root is None else self.is_root

    def owner_group(self, absolute: str) -> str | None:
        if self.root != Path("/"):
            return None
        import grp

        try:
            return grp.getgrgid(Path(absolute).stat().st_gid).gr_name
        except (OSError, KeyError):
            return None

    def owner_gid(self, absolute: str) -> str | None:
        if self.root != Path("/"):
            return None
        try:
            return str(Path(absolute).stat().st_gid)
        except OSError:
            return None

    def can_use(self, absolute: str) -> bool | None:
        """Whether this user may read and write the node (None: unknown, in a fixture tree)."""
        if self.root != Path("/"):
            return None
        return os.access(absolute, os.R_OK | os.W_OK)


@dataclass(frozen=True)
class Need:
    """Something a device needs before it can be used, whether it is met, and how to meet it."""

    what: str
    met: bool
    fix: str = ""
    containers_only: bool = False  # needed to pass the device into containers, not to use it here

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "met": self.met,
            "fix": self.fix,
            "containers_only": self.containers_only,
        }


@dataclass(frozen=True)
class Device:
    kind: str  # "gpu", "serial", "visa", "camera"
    name: str
    path: str  # a device node, or a VISA resource string
    vendor: str = ""  # gpu: nvidia, amd, intel
    details: Mapping[str, str] = field(default_factory=dict, hash=False)
    needs: tuple[Need, ...] = ()

    @property
    def usable(self) -> bool:
        return all(n.met for n in self.needs if not n.containers_only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "vendor": self.vendor,
            "details": dict(self.details),
            "usable": self.usable,
            "needs": [n.to_dict() for n in self.needs],
        }


@dataclass(frozen=True)
class ContainerSupport:
    """What container engines here can pass through: the NVIDIA toolkit, CDI devices."""

    nvidia_toolkit: str | None = None  # the toolkit's hook or CLI found, if any
    cdi_devices: tuple[str, ...] = ()  # fully qualified CDI names, "nvidia.com/gpu=0"
    cdi_specs: tuple[str, ...] = ()  # the spec files they came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "nvidia_toolkit": self.nvidia_toolkit,
            "cdi_devices": list(self.cdi_devices),
            "cdi_specs": list(self.cdi_specs),
        }


@dataclass(frozen=True)
class Detection:
    devices: tuple[Device, ...] = ()
    containers: ContainerSupport = field(default_factory=ContainerSupport)
    cuda_version: str | None = None  # the newest CUDA the NVIDIA driver supports, "12.4"
    notes: tuple[str, ...] = ()  # what could not be looked at, and why
    kinds: tuple[str, ...] = KINDS  # the kinds that were looked for

    def of_kind(self, kind: str) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.kind == kind)

    def gpus(self, vendor: str | None = None) -> tuple[Device, ...]:
        return tuple(d for d in self.of_kind("gpu") if vendor in (None, d.vendor))

    def to_dict(self) -> dict[str, Any]:
        return {
            "devices": [d.to_dict() for d in self.devices],
            "containers": self.containers.to_dict(),
            "cuda_version": self.cuda_version,
            "notes": list(self.notes),
        }


def device_group(probe: Probe, node: str, kind: str) -> str:
    """The group that grants access to a device node (its owner, else the usual one)."""
    group = probe.owner_group(node)
    return GROUPS[kind] if group in (None, "root") else group


def group_details(probe: Probe, node: str, kind: str) -> dict[str, str]:
    """The group of a node by name, and by number where the machine says (containers need it)."""
    gid = probe.owner_gid(node) if probe.owner_group(node) not in (None, "root") else None
    return {"group": device_group(probe, node, kind)} | ({"gid": gid} if gid else {})


def group_need(probe: Probe, node: str, kind: str) -> Need:
    """Access to a device node through its group (``dialout``, ``video``, ``render``)."""
    group = device_group(probe, node, kind)
    access = probe.can_use(node)
    met = probe.root_user() or bool(access) or group in probe.user_groups()
    return Need(
        f"membership of group {group} (to open {node})",
        met,
        f"sudo usermod -aG {group} $USER, then log out and in again",
    )


# -- GPUs -------------------------------------------------------------------------------------

_SMI_QUERY = (
    "nvidia-smi",
    "--query-gpu=index,name,uuid,memory.total,driver_version,compute_cap",
    "--format=csv,noheader,nounits",
)
_CUDA_IN_SMI = re.compile(r"CUDA Version:\s*([0-9]+\.[0-9]+)")


def nvml_gpus() -> tuple[list[dict[str, str]], str | None]:
    """NVIDIA GPUs through NVML (``nvidia-ml-py``); empty with a reason when it cannot answer."""
    try:
        import pynvml
    except ImportError:
        return [], None  # not installed: nvidia-smi is asked instead, no note needed
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return [], None  # no NVIDIA driver here at all: nothing worth a note
    except pynvml.NVMLError as e:
        return [], f"NVML: {e}"
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            out.append(
                {
                    "index": str(i),
                    "name": _text(pynvml.nvmlDeviceGetName(h)),
                    "uuid": _text(pynvml.nvmlDeviceGetUUID(h)),
                    "memory_mib": str(pynvml.nvmlDeviceGetMemoryInfo(h).total // (1 << 20)),
                    "driver": driver,
                    "compute_capability": f"{major}.{minor}",
                    "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}",
                }
            )
        return out, None
    except pynvml.NVMLError as e:
        return [], f"NVML: {e}"
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _smi_gpus(probe: Probe) -> tuple[list[dict[str, str]], str | None]:
    out = probe.command(_SMI_QUERY)
    if out is None:
        return [], None
    gpus = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 6 or not cells[0].isdigit():
            continue
        index, name, uuid, memory, driver, cc = cells[:6]
        gpus.append(
            {
                "index": index,
                "name": name,
                "uuid": uuid,
                "memory_mib": memory,
                "driver": driver,
                "compute_capability": cc,
            }
        )
    banner = probe.command(("nvidia-smi",)) or ""
    m = _CUDA_IN_SMI.search(banner)
    return gpus, m.group(1) if m else None


def _nvidia(probe: Probe, nvml: NvmlReader) -> tuple[list[Device], str | None, list[str]]:
    notes: list[str] = []
    gpus, problem = nvml()
    cuda = gpus[0].get("cuda") if gpus else None
    source = "NVML"
    if problem:
        notes.append(problem)
    if not gpus:
        gpus, cuda = _smi_gpus(probe)
        source = "nvidia-smi"
    nodes = [p for p in probe.glob("/dev/nvidia*") if re.fullmatch(r"nvidia\d+", p.name)]
    devices = []
    if gpus:
        for g in gpus:
            node = f"/dev/nvidia{g['index']}"
            details = {k: v for k, v in g.items() if k not in ("name",)} | {"source": source}
            devices.append(Device("gpu", g["name"], node, "nvidia", details, ()))
    else:
        for node in nodes:
            devices.append(
                Device(
                    "gpu",
                    "NVIDIA GPU (driver tools missing)",
                    str(node),
                    "nvidia",
                    {"source": "/dev"},
                )
            )
        if nodes:
            notes.append(
                "NVIDIA device nodes exist but neither NVML nor nvidia-smi answered: "
                "the driver's user-space tools may be missing"
            )
    return devices, cuda, notes


def _nvidia_needs(probe: Probe, device: Device, support: ContainerSupport) -> Device:
    needs = [
        Need(
            "the NVIDIA driver",
            device.details.get("source") != "/dev",
            "install the NVIDIA driver (Debian: nvidia-driver from non-free); "
            "nvidia-smi should then list the GPU",
        ),
        Need(
            "the NVIDIA Container Toolkit or CDI specs (for containers)",
            bool(support.nvidia_toolkit or support.cdi_devices),
            "install nvidia-container-toolkit, then run `nvidia-ctk runtime configure "
            "--runtime=docker` (or `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`)",
            containers_only=True,
        ),
    ]
    return replace(device, needs=tuple(needs))


def _drm(probe: Probe) -> list[Device]:
    """AMD and Intel GPUs: DRM render nodes by PCI vendor (NVIDIA's are reported by _nvidia)."""
    devices = []
    for node in probe.glob("/dev/dri/renderD*"):
        vendor_id = probe.read(f"/sys/class/drm/{node.name}/device/vendor") or ""
        vendor = PCI_VENDORS.get(vendor_id.lower(), "")
        if vendor in ("nvidia", ""):
            continue
        device_id = probe.read(f"/sys/class/drm/{node.name}/device/device") or ""
        needs = [group_need(probe, str(node), "render")]
        details = {"pci": f"{vendor_id}:{device_id}".strip(":")} | group_details(
            probe, str(node), "render"
        )
        name = {"amd": "AMD GPU", "intel": "Intel GPU"}[vendor]
        if vendor == "amd":
            kfd = probe.exists("/dev/kfd")
            details["rocm"] = "yes" if kfd else "no"
            needs.append(
                Need(
                    "/dev/kfd (the ROCm compute interface)",
                    kfd,
                    "load the amdgpu driver with ROCm support (the amdgpu-dkms or the distribution "
                    "kernel's amdgpu module)",
                )
            )
            if kfd:
                needs.append(group_need(probe, "/dev/kfd", "kfd"))
        devices.append(Device("gpu", name, str(node), vendor, details, tuple(needs)))
    return devices


def _cdi(probe: Probe) -> tuple[list[str], list[str], list[str]]:
    """Fully qualified CDI device names from the spec folders (and the files, and problems)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    names: list[str] = []
    files: list[str] = []
    notes: list[str] = []
    yaml = YAML(typ="safe", pure=True)
    for folder in CDI_DIRS:
        for spec in probe.glob(f"/{folder}/*"):
            if spec.suffix not in (".yaml", ".yml", ".json"):
                continue
            try:
                raw = probe.path(str(spec)).read_bytes()[: _MAX_CDI_BYTES + 1]
                if len(raw) > _MAX_CDI_BYTES:
                    raise ValueError("larger than 1 MiB")
                doc = yaml.load(raw)
                kind = doc["kind"]
                found = [f"{kind}={d['name']}" for d in doc.get("devices") or ()]
            except (OSError, ValueError, YAMLError, KeyError, TypeError) as e:
                notes.append(f"CDI spec {spec} could not be read: {e}")
                continue
            names += found
            files.append(str(spec))
    return names, files, notes


def _container_support(probe: Probe) -> tuple[ContainerSupport, list[str]]:
    toolkit = next(
        (
            p
            for p in (
                probe.which(n)
                for n in ("nvidia-container-runtime-hook", "nvidia-container-runtime", "nvidia-ctk")
            )
            if p
        ),
        None,
    )
    names, files, notes = _cdi(probe)
    return ContainerSupport(toolkit, tuple(names), tuple(files)), notes


# -- serial ports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SerialPort:
    """One port as pyserial lists it (USB ports carry vendor, product and serial number)."""

    device: str
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    location: str | None = None

    @property
    def usb_id(self) -> str | None:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid else None


def from_pyserial(info: Any) -> SerialPort:
    """A ``serial.tools.list_ports_common.ListPortInfo`` as a ``SerialPort``."""
    return SerialPort(
        device=info.device,
        description="" if info.description in (None, "n/a") else info.description,
        vid=info.vid,
        pid=info.pid,
        serial_number=info.serial_number,
        manufacturer=info.manufacturer,
        product=info.product,
        location=info.location,
    )


def pyserial_ports() -> list[SerialPort]:
    """The ports pyserial lists here; raises ImportError when pyserial is not installed."""
    from serial.tools import list_ports

    return [from_pyserial(p) for p in list_ports.comports()]


def udev_rule(port: SerialPort, group: str = "dialout") -> str:
    """A udev rule that gives the board a stable name and the group's access."""
    if port.usb_id is None:
        return ""
    vid, pid = port.usb_id.split(":")
    serial = f', ATTRS{{serial}}=="{port.serial_number}"' if port.serial_number else ""
    return (
        f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{vid}", ATTRS{{idProduct}}=="{pid}"{serial}, '
        f'MODE="0660", GROUP="{group}", SYMLINK+="orbit-{vid}-{pid}"'
    )


def _serial(probe: Probe, lister: SerialLister) -> tuple[list[Device], list[str]]:
    try:
        ports = lister()
    except ImportError:
        return [], ["serial ports: pyserial is not installed (pip install pyserial)"]
    except OSError as e:
        return [], [f"serial ports: {e}"]
    devices = []
    for port in ports:
        details = {
            k: v
            for k, v in {
                "usb": port.usb_id,
                "serial_number": port.serial_number,
                "manufacturer": port.manufacturer,
                "product": port.product,
                "location": port.location,
                "board": BOARD_VENDORS.get(f"{port.vid:04x}") if port.vid is not None else None,
            }.items()
            if v
        } | group_details(probe, port.device, "serial")
        needs = [group_need(probe, port.device, "serial")]
        if port.usb_id and (rule := udev_rule(port, device_group(probe, port.device, "serial"))):
            needs.append(
                Need(
                    "a udev rule (a stable name that survives replugging, for containers)",
                    probe.exists(f"/dev/orbit-{port.usb_id.replace(':', '-')}"),
                    f"echo '{rule}' | sudo tee -a /etc/udev/rules.d/99-orbit-serial.rules && "
                    "sudo udevadm control --reload && sudo udevadm trigger",
                    containers_only=True,
                )
            )
        name = port.product or port.description or Path(port.device).name
        devices.append(Device("serial", name, port.device, "", details, tuple(needs)))
    return devices, []


# -- VISA instruments -------------------------------------------------------------------------


def pyvisa_resources(backend: str = "", query: str = "?*::INSTR") -> VisaLister:
    """A lister of VISA resources through PyVISA's resource manager (``backend``: ``@py``,
    ``file.yaml@sim``, or empty for PyVISA's default), bounded in time."""

    def lister(timeout: float) -> tuple[list[str], str | None]:
        try:
            import pyvisa
        except ImportError:
            return [], None  # not installed: no VISA instruments to show, no note needed
        result: dict[str, Any] = {}

        def work() -> None:
            import warnings

            # pyvisa-py warns about optional discovery packages (zeroconf, psutil) it lacks
            warnings.filterwarnings("ignore", category=UserWarning, module="pyvisa_py")
            try:
                rm = pyvisa.ResourceManager(backend) if backend else pyvisa.ResourceManager()
                try:
                    result["found"] = list(rm.list_resources(query))
                finally:
                    rm.close()
            except Exception as e:  # VISA libraries fail in many ways; each becomes a note
                result["error"] = f"{type(e).__name__}: {e}"

        worker = threading.Thread(target=work, name="orbit-visa-scan", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            return [], f"VISA: no answer within {timeout:g} s (instruments not listed)"
        if "error" in result:
            return [], f"VISA: {result['error']}"
        return result["found"], None

    return lister


def _visa(lister: VisaLister, timeout: float) -> tuple[list[Device], list[str]]:
    found, problem = lister(timeout)
    devices = []
    for resource in found:
        interface = re.match(r"[A-Za-z]*", resource).group(0).upper()
        name = f"{interface} instrument" if interface else "instrument"
        devices.append(Device("visa", name, resource, "", {"interface": interface}))
    return devices, [problem] if problem else []


# -- cameras ----------------------------------------------------------------------------------


def _cameras(probe: Probe) -> list[Device]:
    devices = []
    for node in probe.glob("/dev/video*"):
        if not re.fullmatch(r"video\d+", node.name):
            continue
        name = probe.read(f"/sys/class/video4linux/{node.name}/name") or "video device"
        needs = (group_need(probe, str(node), "camera"),)
        details = group_details(probe, str(node), "camera")
        devices.append(Device("camera", name, str(node), "", details, needs))
    return devices


# -- all of it --------------------------------------------------------------------------------


def detect(
    probe: Probe | None = None,
    *,
    serial_ports: SerialLister = pyserial_ports,
    visa: VisaLister | None = None,
    nvml: NvmlReader = nvml_gpus,
    visa_timeout: float = VISA_TIMEOUT,
    kinds: Collection[str] = KINDS,
) -> Detection:
    """What this machine has of ``kinds`` (every kind by default), each device with what it
    needs, and notes on what was not looked at. GPUs come with what containers can be given
    (the NVIDIA Container Toolkit, CDI devices)."""
    probe = probe or Probe()
    devices: list[Device] = []
    notes: list[str] = []
    support, cuda = ContainerSupport(), None
    if "gpu" in kinds:
        support, notes = _container_support(probe)
        nvidia, cuda, more = _nvidia(probe, nvml)
        notes += more
        devices += [_nvidia_needs(probe, d, support) for d in nvidia]
        devices += _drm(probe)
    if "serial" in kinds:
        found, more = _serial(probe, serial_ports)
        devices += found
        notes += more
    if "visa" in kinds:
        found, more = _visa(visa or pyvisa_resources(), visa_timeout)
        devices += found
        notes += more
    if "camera" in kinds:
        devices += _cameras(probe)
    return Detection(
        tuple(devices), support, cuda, tuple(notes), tuple(k for k in KINDS if k in kinds)
    )
