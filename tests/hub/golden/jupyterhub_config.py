# JupyterHub configuration of Jupyter Orbit's local hub (profile 'team').
# Written by `orbit hub up`; mounted read-only into the hub container. Secrets come from the
# environment (hub.env), never from this file.
import os

c = get_config()  # noqa: F821

profile = os.environ["ORBIT_HUB_PROFILE"]
name = os.environ["ORBIT_NETWORK"]

# The proxy listens on 8000 (published on 127.0.0.1 only); users' servers reach the hub by name.
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://hub:8081"
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
c.ConfigurableHTTPProxy.pid_file = "/srv/jupyterhub/data/proxy.pid"

# Each user's server: a container of the project's image, on the hub's network only, with a
# named volume of their own for notebooks, no capabilities, and never the engine's socket.
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = os.environ["ORBIT_USER_IMAGE"]
c.DockerSpawner.pull_policy = "never"
c.DockerSpawner.network_name = name
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.prefix = name
c.DockerSpawner.notebook_dir = "/home/jovyan/work"
c.DockerSpawner.volumes = {name + "-user-{username}": "/home/jovyan/work"}
c.DockerSpawner.extra_create_kwargs = {"labels": {"org.jupyter.orbit.hub": profile}}
orbit_host_config = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "privileged": False,
}
c.DockerSpawner.extra_host_config = dict(orbit_host_config)
orbit_container_spec = {"cap_drop": ["ALL"], "labels": {"org.jupyter.orbit.hub": profile}}
c.DockerSpawner.environment = {"HOME": "/home/jovyan"}
# Restarting the hub (to apply `orbit hub config set`) leaves users' servers running.
c.JupyterHub.cleanup_servers = False
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 300

# One generated password (in hub.env) lets anyone who can reach 127.0.0.1 log in under any
# name; Orbit itself uses an API token (a service) to manage users and servers.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ["ORBIT_HUB_PASSWORD"]
c.Authenticator.allow_all = True
c.JupyterHub.services = [{"name": "orbit", "api_token": os.environ["ORBIT_HUB_API_TOKEN"]}]
c.JupyterHub.load_roles = [
    {
        "name": "orbit",
        "services": ["orbit"],
        "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"],
    }
]
