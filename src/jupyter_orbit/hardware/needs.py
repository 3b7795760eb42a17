"""A notebook's declared hardware, and what engines do with it: pure functions only.

A notebook declares what it needs in ``metadata.orbit.hardware``::

    {"gpu": true}                                 one GPU of any make
    {"gpu": "nvidia"}                             one NVIDIA GPU
    {"gpu": {"vendor": "nvidia", "count": 2}}     two (``"count": "all"``: every one there is)
    {"serial": "2e8a:0005"}                       a USB serial device by vendor:product
    {"serial": ["/dev/ttyACM0"]}                  or by port
    {"visa": "TCPIP0::192.168.1.20::INSTR"}       a VISA instrument

``parse_needs`` checks it (every mistake an ``InputError`` naming the notebook and the key);
``match`` holds it against a ``Detection`` ("no GPU here", and what would be needed); the rest
turn a match into what engines pass on: docker-py ``DeviceRequest``s or CDI device names and
device mappings for a kernel container (``container_devices``), DockerSpawner's
``extra_host_config`` for the hub (``hub_host_config``), Kubernetes resource limits for publish
(``kubernetes_limits``) and the variables that point a device kernel at its device
(``kernel_env``). Nothing here reads the machine: detection is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.hardware.detect import Detection, Device

KEY = "metadata.orbit.hardware"
VENDORS = ("nvidia", "amd", "intel")
_KEYS = ("gpu", "serial", "visa")
_USB_ID = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")
_PORT = re.compile(r"^(/dev/[A-Za-z0-9._/-]+|COM[0-9]{1,3})$")
_VISA = re.compile(r"^(ASRL|GPIB|TCPIP|USB|VXI|PXI)[0-9]*::[^\s]+$", re.IGNORECASE)
_MAKES = {"nvidia": "NVIDIA ", "amd": "AMD ", "intel": "Intel "}
_DRIVER_HELP = {
    "nvidia": "an NVIDIA GPU with its driver (nvidia-smi lists it)",
    "amd": "an AMD GPU with ROCm (/dev/kfd and /dev/dri/renderD*)",
    "intel": "an Intel GPU (/dev/dri/renderD*)",
    None: "a GPU: NVIDIA with its driver (nvidia-smi lists it), AMD with ROCm (/dev/kfd), or Intel",
}


# -- what a notebook declares -----------------------------------------------------------------


@dataclass(frozen=True)
class GpuNeed:
    vendor: str | None = None  # None: any make
    count: int | None = 1  # None: every GPU there is

    def __str__(self) -> str:
        make = _MAKES.get(self.vendor or "", "")
        if self.count is None:
            return f"all {make}GPUs"
        return f"{self.count} {make}GPU{'s' * (self.count > 1)}"


@dataclass(frozen=True)
class SerialNeed:
    usb_id: str | None = None  # "2e8a:0005", lower case
    port: str | None = None  # "/dev/ttyACM0"

    def __str__(self) -> str:
        return self.port or f"USB device {self.usb_id}"


@dataclass(frozen=True)
class HardwareNeeds:
    gpu: GpuNeed | None = None
    serial: tuple[SerialNeed, ...] = ()
    visa: tuple[str, ...] = ()
    notebook: Path | None = field(default=None, compare=False)

    @property
    def empty(self) -> bool:
        return self.gpu is None and not self.serial and not self.visa

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.gpu:
            out["gpu"] = {"vendor": self.gpu.vendor, "count": self.gpu.count or "all"}
        if self.serial:
            out["serial"] = [s.port or s.usb_id for s in self.serial]
        if self.visa:
            out["visa"] = list(self.visa)
        return out


def parse_needs(metadata: Mapping[str, Any] | None, *, notebook: Path | None) -> HardwareNeeds:
    """The hardware a notebook's metadata declares (``metadata`` is the notebook's metadata)."""
    orbit = (metadata or {}).get("orbit") or {}
    raw = orbit.get("hardware") if isinstance(orbit, Mapping) else None
    if raw is None:
        return HardwareNeeds(notebook=notebook)

    def bad(key: str, message: str, hint: str) -> InputError:
        return InputError(f"{KEY}{key}: {message}", hint, path=notebook)

    if not isinstance(raw, Mapping):
        raise bad("", f"must be an object, not {type(raw).__name__}", 'write e.g. {"gpu": true}')
    unknown = sorted(k for k in raw if k not in _KEYS)
    if unknown:
        raise bad("", f"unknown key{'s' * (len(unknown) > 1)} {', '.join(unknown)}", f"use {_KEYS}")
    return HardwareNeeds(
        gpu=_gpu(raw.get("gpu"), bad),
        serial=tuple(_serial(v, bad) for v in _listed(raw.get("serial"))),
        visa=tuple(_visa(v, bad) for v in _listed(raw.get("visa"))),
        notebook=notebook,
    )


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _gpu(value: Any, bad: Any) -> GpuNeed | None:
    hint = (
        'write true, a make ("nvidia", "amd", "intel"), a count, or {"vendor": ..., "count": ...}'
    )
    if value is None or value is False:
        return None
    if value is True:
        return GpuNeed()
    if isinstance(value, int):
        return GpuNeed(count=_count(value, bad))
    if isinstance(value, str):
        return GpuNeed(vendor=_vendor(value, bad))
    if isinstance(value, Mapping):
        extra = sorted(set(value) - {"vendor", "count"})
        if extra:
            raise bad(".gpu", f"unknown key {extra[0]}", hint)
        vendor = value.get("vendor")
        if vendor is not None and not isinstance(vendor, str):
            raise bad(".gpu.vendor", f"{vendor!r} is not a make of GPU", hint)
        return GpuNeed(
            vendor=_vendor(vendor, bad) if vendor is not None else None,
            count=_count(value.get("count", 1), bad),
        )
    raise bad(".gpu", f"{value!r} is not a GPU request", hint)


def _vendor(value: str, bad: Any) -> str | None:
    v = value.strip().lower()
    if v in ("any", "gpu", ""):
        return None
    if v not in VENDORS:
        raise bad(".gpu", f"unknown make of GPU {value!r}", f"use one of {', '.join(VENDORS)}")
    return v


def _count(value: Any, bad: Any) -> int | None:
    if value == "all":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise bad(".gpu.count", f"{value!r} is not a number of GPUs", 'use 1 to 64, or "all"')
    return value


def _serial(value: Any, bad: Any) -> SerialNeed:
    hint = 'write a USB "vendor:product" in hex (e.g. "2e8a:0005") or a port under /dev'
    if not isinstance(value, str):
        raise bad(".serial", f"{value!r} is not a serial device", hint)
    if _USB_ID.match(value):
        return SerialNeed(usb_id=value.lower())
    if _PORT.match(value) and ".." not in value.split("/"):
        return SerialNeed(port=value)
    raise bad(".serial", f"{value!r} is neither a USB vendor:product nor a serial port", hint)


def _visa(value: Any, bad: Any) -> str:
    if not isinstance(value, str) or not _VISA.match(value):
        raise bad(
            ".visa",
            f"{value!r} is not a VISA resource name",
            'write e.g. "TCPIP0::192.168.1.20::INSTR" or "USB0::0x1AB1::0x04CE::DS1Z::INSTR"',
        )
    return value


# -- held against this machine ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    message: str
    hint: str


@dataclass(frozen=True)
class Match:
    """The devices that serve a notebook's needs here, and what is missing."""

    needs: HardwareNeeds
    gpus: tuple[Device, ...] = ()
    serial: tuple[Device, ...] = ()
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """A ``BuildError`` naming the notebook for the first problem (and how many more)."""
        if not self.problems:
            return
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if self.problems[1:] else ""
        raise BuildError(first.message + more, first.hint, path=self.needs.notebook)

    def to_dict(self) -> dict[str, Any]:
        return {
            "needs": self.needs.to_dict(),
            "ok": self.ok,
            "gpus": [d.path for d in self.gpus],
            "serial": [d.path for d in self.serial],
            "problems": [{"message": p.message, "hint": p.hint} for p in self.problems],
            "warnings": list(self.warnings),
        }


def match(needs: HardwareNeeds, detection: Detection) -> Match:
    problems: list[Problem] = []
    warnings: list[str] = []
    gpus: tuple[Device, ...] = ()
    if needs.gpu is not None:
        gpus, gpu_problems = _match_gpu(needs.gpu, detection)
        problems += gpu_problems
    serial = []
    for want in needs.serial:
        found = [d for d in detection.of_kind("serial") if _serves(want, d)]
        if not found:
            problems.append(
                Problem(
                    f"no serial device {want} here: {KEY}.serial asks for it",
                    "plug the device in (`orbit hardware` lists the serial ports this machine "
                    "has), or change metadata.orbit.hardware.serial",
                )
            )
            continue
        serial.append(found[0])
        problems += _unmet(found[0])
    listed = {d.path for d in detection.of_kind("visa")}
    warnings += [
        f"VISA instrument {v} was not listed here (network instruments often are not: it is "
        "tried when the kernel connects)"
        for v in needs.visa
        if v not in listed and "visa" in detection.kinds
    ]
    return Match(needs, gpus, tuple(serial), tuple(problems), tuple(warnings))


def _serves(want: SerialNeed, device: Device) -> bool:
    if want.port is not None:
        return device.path == want.port
    return device.details.get("usb") == want.usb_id


def _unmet(device: Device) -> list[Problem]:
    return [
        Problem(f"{device.name} ({device.path}) needs {n.what}", n.fix)
        for n in device.needs
        if not n.met and not n.containers_only
    ]


def _match_gpu(want: GpuNeed, detection: Detection) -> tuple[tuple[Device, ...], list[Problem]]:
    have = detection.gpus(want.vendor)
    if not have:
        others = [g for g in detection.gpus() if g.vendor != want.vendor]
        elsewhere = f" (it has {', '.join(g.name for g in others)})" if others else ""
        return (), [
            Problem(
                f"no {_MAKES.get(want.vendor or '', '')}GPU here: "
                f"{KEY}.gpu asks for {want}, and this machine has none{elsewhere}",
                f"run it on a machine with {_DRIVER_HELP[want.vendor]}, or remove "
                f"{KEY}.gpu to run on the CPU",
            )
        ]
    # Of one make: the make of the first GPU found when any make will do.
    have = tuple(g for g in have if g.vendor == have[0].vendor)
    if want.count is not None and len(have) < want.count:
        return (), [
            Problem(
                f"{KEY}.gpu asks for {want}, and this machine has {len(have)}",
                f"lower the count in {KEY}.gpu, or run it on a machine with more GPUs",
            )
        ]
    chosen = have if want.count is None else have[: want.count]
    return chosen, [p for g in chosen for p in _unmet(g)]


# -- containers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerDevices:
    """What a kernel container gets: device requests (the Engine API's, as docker-py spells
    their fields), device mappings ``host:container:rwm`` and extra groups."""

    device_requests: tuple[Mapping[str, Any], ...] = ()
    devices: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.device_requests or self.devices or self.group_add)

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py's ``containers.create`` (merged into the rest)."""
        from docker.types import DeviceRequest

        out: dict[str, Any] = {}
        if self.device_requests:
            out["device_requests"] = [DeviceRequest(**dict(r)) for r in self.device_requests]
        if self.devices:
            out["devices"] = list(self.devices)
        if self.group_add:
            out["group_add"] = list(self.group_add)
        return out

    @classmethod
    def from_host_config(cls, config: Mapping[str, Any]) -> ContainerDevices:
        """Back from ``host_config`` (what the engine hands its container starter)."""
        extra = sorted(set(config) - {"device_requests", "devices", "group_add"})
        if extra:
            raise ValueError(f"not container devices: {', '.join(extra)}")
        return cls(
            tuple(dict(r) for r in config.get("device_requests", ())),
            tuple(str(d) for d in config.get("devices", ())),
            tuple(str(g) for g in config.get("group_add", ())),
        )

    def host_config(self) -> dict[str, Any]:
        """The same as plain data: DockerSpawner's ``extra_host_config`` (docker-py turns the
        request mappings into ``DeviceRequest``s itself)."""
        out: dict[str, Any] = {}
        if self.device_requests:
            out["device_requests"] = [dict(r) for r in self.device_requests]
        if self.devices:
            out["devices"] = list(self.devices)
        if self.group_add:
            out["group_add"] = list(self.group_add)
        return out


def engine_cdi_enabled(info: Mapping[str, Any]) -> bool:
    """Whether a Docker engine resolves CDI device names (its ``/info`` lists CDI spec dirs)."""
    return bool(info.get("CDISpecDirs"))


def container_devices(
    m: Match, detection: Detection, *, cdi_enabled: bool, allow_serial: bool
) -> ContainerDevices:
    """What a kernel container needs for a matched notebook; ``BuildError`` when it cannot
    have it here (the reason, and what would make it possible)."""
    m.raise_for_problems()
    requests: list[Mapping[str, Any]] = []
    devices: list[str] = []
    groups: list[str] = []
    if m.gpus:
        vendor = m.gpus[0].vendor
        if vendor == "nvidia":
            requests.append(_nvidia_request(m, detection, cdi_enabled=cdi_enabled))
        else:
            nodes = [g.path for g in m.gpus]
            if vendor == "amd":
                nodes.insert(0, "/dev/kfd")
            devices += [f"{n}:{n}:rwm" for n in nodes]
            groups += _groups(m.gpus)
    if m.serial and not allow_serial:
        port = m.serial[0].path
        raise BuildError(
            f"{KEY}.serial asks for {port} in the kernel's container, and this profile does not "
            "pass serial devices into containers",
            "allow it in the profile's settings ([hardware] container_serial = true in "
            "profile.toml), or run this notebook with the local engine",
            path=m.needs.notebook,
        )
    for port in m.serial:
        devices.append(f"{port.path}:{port.path}:rwm")
        groups += _groups([port])
    return ContainerDevices(tuple(requests), tuple(devices), tuple(dict.fromkeys(groups)))


def _groups(devices: Iterable[Device]) -> list[str]:
    """The groups that open these nodes, by number where detection knows it (a container's own
    /etc/group does not have the host's)."""
    return [g for d in devices if (g := d.details.get("gid") or d.details.get("group"))]


def _nvidia_request(m: Match, detection: Detection, *, cdi_enabled: bool) -> Mapping[str, Any]:
    want = m.needs.gpu
    assert want is not None
    cdi = detection.containers.cdi_devices
    if cdi_enabled and cdi:
        if want.count is None and "nvidia.com/gpu=all" in cdi:
            return {"driver": "cdi", "device_ids": ["nvidia.com/gpu=all"]}
        named = [f"nvidia.com/gpu={g.details.get('index', i)}" for i, g in enumerate(m.gpus)]
        missing = [n for n in named if n not in cdi]
        if not missing:
            return {"driver": "cdi", "device_ids": named}
        if not detection.containers.nvidia_toolkit:
            raise BuildError(
                f"the CDI specs here do not name {', '.join(missing)}",
                "regenerate them: sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",
                path=m.needs.notebook,
            )
    if detection.containers.nvidia_toolkit:
        if want.count is None:
            return {"count": -1, "capabilities": [["gpu"]]}
        ids = [g.details.get("uuid") or g.details.get("index", "0") for g in m.gpus]
        return {"device_ids": ids, "capabilities": [["gpu"]]}
    raise BuildError(
        "the container engine cannot be given NVIDIA GPUs here: neither the NVIDIA Container "
        "Toolkit nor CDI specs are installed",
        "install nvidia-container-toolkit and run `sudo nvidia-ctk runtime configure "
        "--runtime=docker` (then restart the engine), or run this notebook with the local engine",
        path=m.needs.notebook,
    )


def hub_host_config(m: Match, detection: Detection, *, cdi_enabled: bool) -> dict[str, Any]:
    """What the hub's generated config adds to ``c.DockerSpawner.extra_host_config``: the GPUs
    (DockerSpawner has no GPU option of its own). Serial devices are never passed to a hub's
    users, who share the machine."""
    if m.needs.serial:
        raise BuildError(
            f"{KEY}.serial: a hub does not pass serial devices to its users' servers",
            "run this notebook in Orbit on the machine the device is plugged into",
            path=m.needs.notebook,
        )
    only_gpus = Match(m.needs, m.gpus, (), m.problems, m.warnings)
    return container_devices(
        only_gpus, detection, cdi_enabled=cdi_enabled, allow_serial=False
    ).host_config()


def hub_config_lines(host_config: Mapping[str, Any]) -> str:
    """Lines for jupyterhub_config.py that add ``host_config`` to DockerSpawner's."""
    if not host_config:
        return ""
    import pprint

    body = pprint.pformat(dict(host_config), indent=4, width=92, sort_dicts=True)
    return (
        "# The GPUs the project's notebooks declare (metadata.orbit.hardware), for every user's\n"
        "# server: DockerSpawner has no GPU option of its own.\n"
        f"c.DockerSpawner.extra_host_config.update({body})\n"
    )


def kubernetes_limits(needs: HardwareNeeds) -> dict[str, str]:
    """Resource limits for a Kubernetes pod (Z2JH's ``singleuser.extraResource.limits``): the
    device plugins' resource names, as many as the notebook asks for.

    For publish, which describes a cluster rather than this machine: it takes the declaration
    only (``prepare(..., until="resolve").resolution.hardware``), never a match against the
    machine it runs on. A GPU of no make asks for NVIDIA's (the usual device plugin); serial
    devices and instruments have no resource name and are left out.
    """
    want = needs.gpu
    if want is None:
        return {}
    if want.count is None:
        raise InputError(
            f'{KEY}.gpu: "count": "all" cannot be a Kubernetes limit',
            "give the number of GPUs a user's server should get",
            path=needs.notebook,
        )
    resource = {
        "nvidia": "nvidia.com/gpu",
        "amd": "amd.com/gpu",
        "intel": "gpu.intel.com/i915",
    }[want.vendor or "nvidia"]
    return {resource: str(want.count)}


def merge_needs(all_needs: Iterable[HardwareNeeds]) -> HardwareNeeds:
    """What several notebooks need together (a hub serving a project): the most GPUs any asks
    for, every serial device and instrument. GPUs of two different makes are an error."""
    gpu: GpuNeed | None = None
    serial: dict[SerialNeed, None] = {}
    visa: dict[str, None] = {}
    for needs in all_needs:
        serial.update(dict.fromkeys(needs.serial))
        visa.update(dict.fromkeys(needs.visa))
        want = needs.gpu
        if want is None:
            continue
        if gpu is None:
            gpu = want
            continue
        if gpu.vendor and want.vendor and gpu.vendor != want.vendor:
            raise InputError(
                f"{KEY}.gpu: notebooks of one project ask for {gpu} and {want}",
                "ask for one make of GPU in every notebook of the project",
                path=needs.notebook,
            )
        count = None if None in (gpu.count, want.count) else max(gpu.count, want.count)
        gpu = GpuNeed(gpu.vendor or want.vendor, count)
    return HardwareNeeds(gpu, tuple(serial), tuple(visa))


# The variables ``kernel_env`` sets (engines that run kernels elsewhere pass these on).
KERNEL_ENV = ("ORBIT_SERIAL_PORT", "ORBIT_VISA_RESOURCE")


def kernel_env(needs: HardwareNeeds, m: Match | None = None) -> dict[str, str]:
    """Variables that tell a device kernel which device the notebook declares (the first serial
    device and the first VISA instrument); the port found here when ``m`` matched one."""
    env = {}
    if m is not None and m.serial:
        env["ORBIT_SERIAL_PORT"] = m.serial[0].path
    elif needs.serial:
        first = needs.serial[0]
        env["ORBIT_SERIAL_PORT"] = first.port or first.usb_id or ""
    if needs.visa:
        env["ORBIT_VISA_RESOURCE"] = needs.visa[0]
    return env
