"""The local hub: JupyterHub + configurable-http-proxy + DockerSpawner from one compose file.

``confection`` renders the files (pure), ``policy`` checks a compose file before it runs,
``runner`` builds the images and runs the file with Docker Compose.
"""
