"""Container options from notebook metadata and compose files: what reaches into the host is
refused (unless allowed), and the rest maps onto the Engine API."""

from pathlib import Path

import pytest

from jupyter_orbit.engines import container_options as co
from jupyter_orbit.errors import InputError

NB = Path("/p/nb.ipynb")


def keys(service: dict) -> list[str]:
    return [f.key for f in co.findings(service)]


@pytest.mark.parametrize(
    ("service", "key"),
    [
        ({"privileged": True}, "privileged"),
        ({"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}, "volumes[0]"),
        ({"volumes": ["/run/docker.sock:/sock:ro"]}, "volumes[0]"),
        ({"volumes": ["/var/run:/host-run"]}, "volumes[0]"),  # holds the socket
        ({"volumes": ["/run/podman/podman.sock:/p.sock"]}, "volumes[0]"),
        (
            {"volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"}]},
            "volumes[0]",
        ),
        ({"volumes": ["/:/host"]}, "volumes[0]"),
        ({"volumes": [{"type": "bind", "source": "/", "target": "/host"}]}, "volumes[0]"),
        ({"network_mode": "host"}, "network_mode"),
        ({"pid": "host"}, "pid"),
        ({"ipc": "host"}, "ipc"),
        ({"userns_mode": "host"}, "userns_mode"),
        ({"ports": ["8080:80"]}, "ports[0]"),
        ({"ports": ["0.0.0.0:8080:80"]}, "ports[0]"),
        ({"ports": ["[::]:8080:80"]}, "ports[0]"),
        ({"ports": ["80"]}, "ports[0]"),
        ({"ports": [{"target": 80, "published": 8080}]}, "ports[0]"),
        ({"ports": [{"target": 80, "published": 8080, "host_ip": "0.0.0.0"}]}, "ports[0]"),
        ({"cap_add": ["SYS_ADMIN"]}, "cap_add[0]"),
        ({"cap_add": ["ALL"]}, "cap_add[0]"),
        ({"security_opt": ["seccomp=unconfined"]}, "security_opt[0]"),
    ],
)
def test_what_reaches_into_the_host(service: dict, key: str):
    assert keys(service) == [key]


@pytest.mark.parametrize(
    "service",
    [
        {"privileged": False},
        {"volumes": ["./data:/data:ro", "cache:/cache", "/srv/data:/data"]},
        {"volumes": [{"type": "volume", "source": "docker.sock", "target": "/x"}]},
        {"network_mode": "bridge", "pid": "container:other"},
        {"ports": ["127.0.0.1:8080:80", "[::1]:8081:81", "localhost:8082:82"]},
        {"ports": [{"target": 80, "published": 8080, "host_ip": "127.0.0.1"}]},
        {"cap_add": ["NET_BIND_SERVICE"], "security_opt": ["no-new-privileges:true"]},
        {"devices": ["/dev/dri:/dev/dri"], "shm_size": "1g"},
    ],
)
def test_ordinary_options_pass(service: dict):
    assert keys(service) == []


def test_a_symlink_to_the_socket_counts(tmp_path: Path):
    link = tmp_path / "innocent"
    link.symlink_to("/var/run/docker.sock")
    assert co.reaches_engine(str(link))


def test_docker_host_names_another_socket(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///srv/engine/api")
    assert co.reaches_engine("/srv/engine/api") and co.reaches_engine("/srv/engine")
    assert not co.reaches_engine("/srv/data")


def test_metadata_refusal_names_the_notebook_key_and_the_flag():
    with pytest.raises(InputError) as e:
        co.kernel_options(
            {"volumes": ["/var/run/docker.sock:/var/run/docker.sock"], "privileged": True},
            path=NB,
            base_dir=NB.parent,
            allow_host_access=False,
        )
    err = e.value
    assert err.path == NB and err.exit_code == 2
    assert str(err).startswith(f"{NB}: metadata.orbit.container.privileged asks for a privileged")
    assert "and 1 more" in str(err)
    assert "--allow-host-access" in err.hint


def test_metadata_allowed_with_the_flag_and_relative_paths_resolved():
    out = co.kernel_options(
        {"privileged": True, "volumes": ["./data:/data:ro", "~/x:/x"], "ports": ["8050:8050"]},
        path=NB,
        base_dir=Path("/p/sub"),
        allow_host_access=True,
    )
    assert out["privileged"] is True
    assert out["volumes"][0] == "/p/sub/data:/data:ro"
    assert out["volumes"][1] == f"{Path('~/x').expanduser()}:/x"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["privileged"], "must be an object"),
        ({"restart": "always"}, "options a kernel container does not take: restart"),
        ({"volumes": ["/data"]}, "names no host folder"),
    ],
)
def test_malformed_metadata(options, message: str):
    with pytest.raises(InputError, match=message) as e:
        co.kernel_options(options, path=NB, base_dir=NB.parent, allow_host_access=True)
    assert e.value.path == NB


def test_options_map_onto_the_engine_api():
    kw = co.create_kwargs(
        {
            "volumes": ["/p/data:/data:ro", {"type": "volume", "source": "v", "target": "/v"}],
            "ports": ["127.0.0.1:8050:8050", {"target": 9000, "published": 9001, "host_ip": "::1"}],
            "environment": {"A": 1, "B": None},
            "shm_size": "1g",
            "cpus": 1.5,
            "pid": "host",
        }
    )
    assert kw["volumes"] == ["/p/data:/data:ro"]
    assert kw["mounts"][0]["Target"] == "/v" and kw["mounts"][0]["Type"] == "volume"
    assert kw["ports"] == {"8050/tcp": ("127.0.0.1", 8050), "9000/tcp": ("::1", 9001)}
    assert kw["environment"] == {"A": "1", "B": ""}
    assert kw["nano_cpus"] == 1_500_000_000 and kw["pid_mode"] == "host"


def test_split_port():
    assert co.split_port("80") == (None, None, "80")
    assert co.split_port("8080:80/udp") == (None, "8080", "80/udp")
    assert co.split_port("127.0.0.1:8080:80") == ("127.0.0.1", "8080", "80")
    assert co.split_port("127.0.0.1::80") == ("127.0.0.1", None, "80")
    assert co.split_port("[::1]:8080:80") == ("::1", "8080", "80")
