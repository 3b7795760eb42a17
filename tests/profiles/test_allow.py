"""A key resolved to the traits it sets (the attacks: tests/security/test_profile_settings.py)."""

import pytest

from jupyter_orbit.profiles import allow, traits


@pytest.fixture(scope="module")
def classes():
    return traits.configurable_classes(None)


def test_spellings_follow_traitlets(classes):
    assert "ServerApp.ip" in allow.spellings("OrbitServerApp.ip", classes)
    assert {"ServerApp.ip", "OrbitServerApp.ip"} <= allow.spellings("JupyterApp.ip", classes)
    assert allow.refusal("JupyterApp.open_browser", classes) is not None
    assert allow.refusal("ServerApp.shutdown_no_activity_timeout", classes) is None


def test_name_refusals_need_no_classes():
    assert allow.name_refusal("AnyClassAtAll.ip")
    assert allow.name_refusal("GatewayClient.request_timeout")
    assert allow.name_refusal("ServerApp.quit_button") is None


def test_importable_needs_every_reached_class_on_the_list(classes):
    assert allow.importable("MappingKernelManager.cull_idle_timeout", classes)
    assert not allow.importable("ServerApp.contents_manager_class", classes)
    assert not allow.importable("NoSuchClass.cull_idle_timeout", classes)
