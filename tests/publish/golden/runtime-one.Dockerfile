# Jupyter Orbit published runtime: 1 environment(s) over orbit-publish-server:aaaa-bbbb.
# Environments (kernel image ids):
#   e1 = sha256:e1
FROM orbit-publish-server:aaaa-bbbb
COPY --from=orbit-kernel:e1 /opt/orbit/env /opt/orbit/envs/e1
COPY orbit-envs /opt/orbit/bin/orbit-envs
RUN python3 -I /opt/orbit/bin/orbit-envs relocate /opt/orbit/env /opt/orbit/envs/e1
COPY --from=orbit-kernel:e1 /opt/orbit/spec /opt/orbit/specs/e1
# kernelspecs, the table that starts each notebook's kernel, the server's settings
COPY orbit /opt/orbit
RUN useradd --uid 1000 --gid 100 --create-home --shell /bin/bash jovyan \
 && install -d -o 1000 -g 100 /opt/orbit/project
ENV JUPYTER_PATH=/opt/orbit/share/jupyter:/opt/orbit/envs/e1/share/jupyter \
    HOME=/home/jovyan \
    SHELL=/bin/bash
USER 1000:100
WORKDIR /opt/orbit/project
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/bin/python3", "-I", "-c", "import http.client as h, sys; c = h.HTTPConnection('127.0.0.1', 8888, timeout=4); c.request('GET', '/api'); sys.exit(c.getresponse().status >= 500)"]
LABEL org.jupyter.orbit.role="published-runtime" \
      org.jupyter.orbit.format="1" \
      org.jupyter.orbit.env-id="" \
      org.jupyter.orbit.spec="" \
      org.jupyter.orbit.environments="[{\"as_of\":\"2025-06-01T00:00:00Z\",\"for\":\"a.ipynb\",\"id\":\"e1\",\"kernel\":\"python3\"}]" \
      org.jupyter.orbit.lock.e1="{\"pypi\":[\"numpy==2.2.6\"]}" \
      org.jupyter.orbit.version="0.1.0"
