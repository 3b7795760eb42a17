"""Engines that run kernels on other machines: SSH hosts (``ssh:NAME``) and Jupyter Enterprise
Gateways (``gateway:NAME``).

The pieces, each small and below the server layer:

- ``url`` and ``hosts``: ``ssh://user@host[:port]`` targets, gateway URLs, and the profile's
  ``remotes.toml`` (a gateway's token in a file of its own);
- ``hostkeys``: host keys checked against the user's known_hosts and Orbit's own, never accepted
  silently;
- ``session``: one SSH connection (asyncssh) with failures turned into ``RemoteError``\\ s;
  ``connections``: one kept per host and process, with the host's answers;
- ``bootstrap``: uv on the remote (the remote's own, or a copy of Orbit's);
- ``sync``: a project's files to Orbit's copy on the remote, and results back (``pull``);
- ``build``: an environment built remotely from a lock resolved here;
- ``launcher`` (runs on the remote) and ``kernel_proxy`` (runs here): a detached remote kernel
  whose ports are tunnelled to local loopback ports, surviving dropped links (``outage``: what a
  notebook hears meanwhile);
- ``ssh_engine``: the ``Engine`` that ties them together;
- ``gateway_engine`` and ``gateway_kernel`` (runs here): kernels through an Enterprise Gateway,
  its websocket bridged to local ports.
"""
