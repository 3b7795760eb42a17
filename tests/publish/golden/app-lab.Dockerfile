# Jupyter Orbit published image of demo: the project's files come last.
FROM orbit-publish:0123
COPY notebooks.json /opt/orbit/share/orbit/notebooks.json
COPY --chown=1000:100 project /opt/orbit/project/
CMD ["jupyter-lab"]
LABEL org.jupyter.orbit.role="published" \
      org.jupyter.orbit.format="1" \
      org.opencontainers.image.title="demo" \
      org.jupyter.orbit.app="jupyterlab" \
      org.jupyter.orbit.as-of="2025-06-01T00:00:00Z" \
      org.jupyter.orbit.notebooks="{\"a.ipynb\":\"e1\"}"
