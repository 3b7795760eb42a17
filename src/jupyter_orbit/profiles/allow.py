"""Which server settings a profile may hold, decided by the trait a key sets, not by its spelling.

traitlets applies a config section ``C`` to every object whose class is ``C``, a subclass of
``C``, or a class ``C`` inherits from: ``OrbitServerApp.ip``, ``JupyterApp.ip`` and
``ServerApp.ip`` all set the server's address. So a key is resolved to the traits it reaches:
every class of that name, every subclass of it (among all the classes the server's packages
and its enabled extensions define), and along each one's inheritance chain every class that
has the trait. Those are the key's *spellings* (``OrbitServerApp.ip`` reaches
``ServerApp.ip``). The rules are written once, by the class that owns the trait:

- ``REFUSED``: settings Orbit's safety depends on. A key with a refused spelling is refused
  for ``orbit config set`` and for imports alike.
- ``REFUSED_NAMES``: trait names refused on every class, known or not, and
  ``REFUSED_CLASSES``: classes none of whose settings may be set (a gateway runs kernels
  elsewhere). These checks need no classes at all, so they run first, anywhere.
- ``IMPORTABLE``: the only settings an imported profile may carry. Everything else (code to
  load, commands to run, folders, URLs, secrets, settings of unknown classes) is refused
  on import; the user can still set it with ``orbit config set`` afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable

_LOOPBACK = "Orbit's servers listen on 127.0.0.1 only"
_PORT = "Orbit picks a free port; choose one with `orbit up --port N`"
_AUTH = "Orbit makes a fresh token for every server and keeps it out of files and logs"
_CHECKS = "it would switch off the server's request checks"
_EXTENSIONS = "extensions are chosen with `orbit ext add` / `orbit ext remove`"
_KERNELS = "Orbit starts every kernel itself, in the notebook's own environment"
_ROOT = "the server serves the folder given to `orbit up`, and nothing outside it"
_TLS = "Orbit talks to its server over plain HTTP on loopback"
_BROWSER = "`orbit up` opens the browser (leave it out with --no-browser)"
_CONFIG = "the profile's config folder is the only config the server reads"
_HOST = "host access is given per run: `orbit up --allow-host-access`"

# Trait names refused on every class: no class may listen elsewhere, take a token or switch off
# the request checks, whatever it is called.
REFUSED_NAMES: dict[str, str] = {
    **dict.fromkeys(("ip", "allow_remote_access", "local_hostnames"), _LOOPBACK),
    **dict.fromkeys(("port", "port_retries", "sock", "sock_mode"), _PORT),
    **dict.fromkeys(
        (
            "token",
            "password",
            "password_required",
            "hashed_password",
            "allow_password_change",
            "allow_unauthenticated_access",
            "cookie_secret",
            "cookie_secret_file",
            "identity_provider_class",
            "authorizer_class",
            "login_handler_class",
            "logout_handler_class",
        ),
        _AUTH,
    ),
    **dict.fromkeys(
        (
            "disable_check_xsrf",
            "allow_origin",
            "allow_origin_pat",
            "allow_credentials",
            "tornado_settings",
            "settings",  # an extension's `settings` are merged into the web application's
            "trust_xheaders",
        ),
        _CHECKS,
    ),
    **dict.fromkeys(("certfile", "keyfile", "client_ca", "ssl_options"), _TLS),
    **dict.fromkeys(("root_dir", "notebook_dir"), _ROOT),
    **dict.fromkeys(("config_file", "config_file_name"), _CONFIG),
    "jpserver_extensions": _EXTENSIONS,
    "allow_root": "Orbit sets it when it runs as root",
    "allow_host_access": _HOST,
}

# By the class that owns the trait (or any class between it and the one a key names).
REFUSED: dict[str, str] = {
    "ServerApp.open_browser": _BROWSER,
    "ServerApp.browser": _BROWSER,
    "ServerApp.webbrowser_open_new": _BROWSER,
    "ServerApp.use_redirect_file": _AUTH,
    "ServerApp.file_to_run": _BROWSER,
    "ExtensionApp.open_browser": _BROWSER,
    "ServerApp.default_url": "Orbit opens JupyterLab (and its launcher) itself",
    "ExtensionApp.default_url": "Orbit opens JupyterLab (and its launcher) itself",
    "ServerApp.preferred_dir": _ROOT,
    "ContentsManager.preferred_dir": _ROOT,
    "ServerApp.cookie_options": _AUTH,
    "ServerApp.get_secure_cookie_kwargs": _AUTH,
    "IdentityProvider.cookie_options": _AUTH,
    "IdentityProvider.get_secure_cookie_kwargs": _AUTH,
    "Session.key": _AUTH,
    "Session.keyfile": _AUTH,
    "Session.signature_scheme": _AUTH,
    "NotebookNotary.secret": _AUTH,
    "NotebookNotary.secret_file": _AUTH,
    "ServerApp.websocket_url": _CHECKS,
    "ServerApp.allow_external_kernels": _KERNELS,
    "ServerApp.external_connection_dir": _KERNELS,
    "ServerApp.kernel_manager_class": _KERNELS,
    "ServerApp.kernel_websocket_connection_class": _KERNELS,
    "ServerApp.session_manager_class": _KERNELS,
    "MultiKernelManager.kernel_manager_class": _KERNELS,
    "ConnectionFileMixin.transport": _LOOPBACK,
    "ConnectionFileMixin.connection_file": _KERNELS,
    "ServerApp.kernel_spec_manager_class": "the profile's kernelspecs are Orbit's",
    "LabApp.extension_manager": _EXTENSIONS,
    "LabApp.app_dir": _EXTENSIONS,
    "LabApp.user_settings_dir": "the profile's JupyterLab settings live in the profile",
    "LabApp.workspaces_dir": "the profile's JupyterLab workspaces live in the profile",
    "LabServerApp.labextensions_path": _EXTENSIONS,
    "LabServerApp.extra_labextensions_path": _EXTENSIONS,
}
# Whole classes: a gateway runs kernels elsewhere, outside Orbit's environments.
REFUSED_CLASSES: dict[str, str] = {
    **dict.fromkeys(
        (
            "GatewayClient",
            "GatewayKernelClient",
            "GatewayKernelManager",
            "GatewayKernelSpecManager",
            "GatewayMappingKernelManager",
            "GatewaySessionManager",
            "GatewayWebSocketConnection",
        ),
        _KERNELS,
    ),
    "PyPIExtensionManager": _EXTENSIONS,
    "ReadOnlyExtensionManager": _EXTENSIONS,
}

# What an imported profile may set: limits, timeouts, logging and presentation. Nothing here
# names code, a command, a folder, a URL or a secret.
IMPORTABLE: frozenset[str] = frozenset(
    {
        "Application.log_level",
        "Application.log_datefmt",
        "Application.log_format",
        "ServerApp.shutdown_no_activity_timeout",
        "ServerApp.terminals_enabled",
        "ServerApp.quit_button",
        "ServerApp.max_body_size",
        "ServerApp.max_buffer_size",
        "ServerApp.iopub_data_rate_limit",
        "ServerApp.iopub_msg_rate_limit",
        "ServerApp.rate_limit_window",
        "ServerApp.limit_rate",
        "ServerApp.websocket_ping_interval",
        "ServerApp.websocket_ping_timeout",
        "ZMQChannelsWebsocketConnection.iopub_data_rate_limit",
        "ZMQChannelsWebsocketConnection.iopub_msg_rate_limit",
        "ZMQChannelsWebsocketConnection.rate_limit_window",
        "ZMQChannelsWebsocketConnection.limit_rate",
        "MappingKernelManager.cull_idle_timeout",
        "MappingKernelManager.cull_interval",
        "MappingKernelManager.cull_connected",
        "MappingKernelManager.cull_busy",
        "MappingKernelManager.buffer_offline_messages",
        "MappingKernelManager.kernel_info_timeout",
        "MappingKernelManager.allow_tracebacks",
        "MappingKernelManager.traceback_replacement_message",
        "KernelManager.shutdown_wait_time",
        "ContentsManager.hide_globs",
        "ContentsManager.allow_hidden",
        "ContentsManager.untitled_notebook",
        "ContentsManager.untitled_file",
        "ContentsManager.untitled_directory",
        "FileContentsManager.delete_to_trash",
        "FileContentsManager.always_delete_dir",
        "FileContentsManager.max_copy_folder_size_mb",
        "TerminalManager.cull_inactive_timeout",
        "TerminalManager.cull_interval",
        "LabApp.collaborative",
        "OrbitExtension.pool_per_env",
        "OrbitExtension.pool_max_envs",
        "OrbitExtension.pool_memory_mb",
        "OrbitExtension.hot_add_spares",
        "OrbitExtension.prewarm_kernels",
    }
)


def name_refusal(key: str) -> str | None:
    """Why ``key`` is refused whatever class it names (None: the class decides)."""
    cls, _, name = key.partition(".")
    return REFUSED_NAMES.get(name) or REFUSED_CLASSES.get(cls)


def _configurable(cls: type) -> bool:
    from traitlets.config import Configurable

    return isinstance(cls, type) and issubclass(cls, Configurable)


def _all_subclasses(cls: type) -> list[type]:
    out, todo, seen = [], [cls], set()
    while todo:
        c = todo.pop()
        if c in seen:
            continue
        seen.add(c)
        out.append(c)
        todo += c.__subclasses__()
    return out


def named(cls_name: str, classes: dict[str, type]) -> list[type]:
    """Every configurable class called ``cls_name``: the one ``classes`` knows, and any other
    of that name defined by what the server imported (two packages may share a name, and a
    config section applies to both)."""
    from traitlets.config import Configurable

    found = [classes[cls_name]] if cls_name in classes else []
    found += [c for c in _all_subclasses(Configurable) if c.__name__ == cls_name]
    return list(dict.fromkeys(found))


def reached(key: str, classes: dict[str, type]) -> list[type]:
    """The classes whose objects ``key`` configures: the classes it names and their subclasses
    that have the trait (in the order found)."""
    cls_name, _, name = key.partition(".")
    out: list[type] = []
    for cls in named(cls_name, classes):
        for sub in _all_subclasses(cls):
            if _configurable(sub) and name in sub.class_traits(config=True):
                out.append(sub)
    return list(dict.fromkeys(out))


def spellings(key: str, classes: dict[str, type]) -> set[str]:
    """Every ``Class.trait`` the key sets: along each reached class's inheritance chain, each
    class that has the trait (so a subclass's key names its parent's trait too)."""
    _, _, name = key.partition(".")
    out = {key}
    for cls in reached(key, classes):
        for parent in cls.__mro__:
            if _configurable(parent) and name in parent.class_traits(config=True):
                out.add(f"{parent.__name__}.{name}")
    return out


def refusal(key: str, classes: dict[str, type]) -> str | None:
    """Why ``key`` may not be set in a profile, by what it sets (None when it may)."""
    if why := name_refusal(key):
        return why
    for spelled in sorted(spellings(key, classes)):
        if spelled in REFUSED:
            return _via(key, spelled, REFUSED[spelled])
    return None


def _via(key: str, spelled: str, why: str) -> str:
    return why if spelled == key else f"it sets {spelled}; {why}"


def importable(key: str, classes: dict[str, type]) -> bool:
    """Whether an imported profile may set ``key``: every class it reaches has a spelling of
    the trait on the allow-list (and none that is refused)."""
    if refusal(key, classes) is not None:
        return False
    name = key.partition(".")[2]
    targets = reached(key, classes)
    if not targets:
        return False
    for cls in targets:
        chain = {
            f"{p.__name__}.{name}"
            for p in cls.__mro__
            if _configurable(p) and name in p.class_traits(config=True)
        }
        if not chain & IMPORTABLE:
            return False
    return True


def unknown(keys: Iterable[str], classes: dict[str, type]) -> list[str]:
    """Entries of a rule list that no longer name a trait of their class (for tests: a rule
    that names nothing protects nothing)."""
    out = []
    for key in keys:
        cls_name, _, name = key.partition(".")
        owners = named(cls_name, classes)
        if not any(name in c.class_traits(config=True) for c in owners):
            out.append(key)
    return out
