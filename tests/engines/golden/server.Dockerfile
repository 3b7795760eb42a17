# Orbit's base + JupyterLab and the JupyterHub single-user server (hub user images).
FROM orbit-base:0123
COPY --from=orbit-uv /uv /usr/local/bin/uv
RUN uv venv --python /usr/bin/python3 /opt/orbit/server \
 && uv pip install --python /opt/orbit/server/bin/python 'jupyterhub>=5,<6' 'jupyterlab>=4' \
 && python3 -m compileall -q -j 0 -x '/tests?/' /opt/orbit/server/lib/python3.11/site-packages
LABEL org.jupyter.orbit.role="server" \
      org.jupyter.orbit.format="1"
