# Jupyter Orbit published runtime: 2 environment(s) over orbit-publish-server:aaaa-bbbb.
# Environments (kernel image ids):
#   e1 = sha256:e1
#   e2 = sha256:e2
FROM orbit-publish-server:aaaa-bbbb AS envs
COPY --from=orbit-kernel:e1 /opt/orbit/env /opt/orbit/envs/e1
COPY --from=orbit-kernel:e2 /opt/orbit/env /opt/orbit/envs/e2
COPY orbit-envs /opt/orbit/bin/orbit-envs
# each environment named by its new place; packages held alike moved to one place
RUN python3 -I /opt/orbit/bin/orbit-envs relocate /opt/orbit/env /opt/orbit/envs/e1 /opt/orbit/envs/e2 \
 && install -d /opt/orbit/shared \
 && python3 -I /opt/orbit/bin/orbit-envs share /opt/orbit/shared /opt/orbit/envs/e1 /opt/orbit/envs/e2

FROM orbit-publish-server:aaaa-bbbb
# Debian packages of every environment (installed in place, as kernel images do)
COPY apt.txt /opt/orbit/share/orbit/apt.txt
RUN apt-get update \
 && xargs -a /opt/orbit/share/orbit/apt.txt apt-get install -y --no-install-recommends \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old
COPY --from=envs /opt/orbit/shared /opt/orbit/shared
COPY --from=envs /opt/orbit/envs/e1 /opt/orbit/envs/e1
COPY --from=envs /opt/orbit/envs/e2 /opt/orbit/envs/e2
COPY --from=orbit-kernel:e1 /opt/orbit/spec /opt/orbit/specs/e1
COPY --from=orbit-kernel:e2 /opt/orbit/spec /opt/orbit/specs/e2
# kernelspecs, the table that starts each notebook's kernel, the server's settings
COPY orbit /opt/orbit
RUN useradd --uid 1000 --gid 100 --create-home --shell /bin/bash jovyan \
 && install -d -o 1000 -g 100 /opt/orbit/project
ENV JUPYTER_PATH=/opt/orbit/share/jupyter:/opt/orbit/envs/e1/share/jupyter:/opt/orbit/envs/e2/share/jupyter \
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
      org.jupyter.orbit.environments="[{\"as_of\":\"2025-06-01T00:00:00Z\",\"for\":\"a.ipynb\",\"id\":\"e1\",\"kernel\":\"python3\"},{\"as_of\":\"2025-06-01T00:00:00Z\",\"for\":\"b.ipynb\",\"id\":\"e2\",\"kernel\":\"python3\"}]" \
      org.jupyter.orbit.lock.e1="{\"pypi\":[\"numpy==2.2.6\"]}" \
      org.jupyter.orbit.lock.e2="{\"pypi\":[\"numpy==2.2.6\"]}" \
      org.jupyter.orbit.version="0.1.0"
