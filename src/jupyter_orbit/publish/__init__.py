"""Publishing a project: a standalone container image (``image``), Binder/repo2docker files
(``binder``), and Zero to JupyterHub's config for Kubernetes (``z2jh``).

Every notebook goes through the one pipeline with the docker engine (``project``); the image is
the docker engine's own kernel images side by side over a server layer (``dockerfile``), with
two small programs that run inside it (``image_kernel``, ``image_envs``).
"""
