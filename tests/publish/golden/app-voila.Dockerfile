# Jupyter Orbit published image of demo: the project's files come last.
FROM orbit-publish:0123
COPY notebooks.json /opt/orbit/share/orbit/notebooks.json
CMD ["voila", "--no-browser", "--port=8888", "--Voila.ip=0.0.0.0", "--Voila.auto_token=True", "a.ipynb"]
LABEL org.jupyter.orbit.role="published" \
      org.jupyter.orbit.format="1" \
      org.opencontainers.image.title="demo" \
      org.jupyter.orbit.app="voila a.ipynb" \
      org.jupyter.orbit.as-of="" \
      org.jupyter.orbit.notebooks="{\"a.ipynb\":\"e1\"}"
