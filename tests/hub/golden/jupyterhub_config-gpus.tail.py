# The GPUs the project's notebooks declare (metadata.orbit.hardware), for every user's
# server: DockerSpawner has no GPU option of its own.
c.DockerSpawner.extra_host_config.update({'device_requests': [{'capabilities': [['gpu']], 'count': 2}]})
