"""Which origins a request may come from (the attacks are in tests/security/test_origins.py)."""

from types import SimpleNamespace

from jupyter_orbit.server.auth import foreign_origin


def request(**headers: str) -> SimpleNamespace:
    return SimpleNamespace(headers=headers)


def test_foreign_origins():
    host = "127.0.0.1:8888"
    assert foreign_origin(request(Host=host)) is None  # a script: no Origin
    assert foreign_origin(request(Host=host, Origin="http://127.0.0.1:8888")) is None
    assert foreign_origin(request(Host="localhost:8888", Origin="HTTP://LOCALHOST:8888")) is None
    for origin in (
        "http://attacker.example",
        "http://127.0.0.1:9999",  # another port is another site
        "null",
        "file://",
        "http://127.0.0.1:8888.attacker.example",
        "",
    ):
        assert foreign_origin(request(Host=host, Origin=origin)) == origin, origin
    ws = request(Host=host, **{"Sec-Websocket-Origin": "http://attacker.example"})
    assert foreign_origin(ws) == "http://attacker.example"
