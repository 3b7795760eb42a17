# Jupyter Orbit's base for kernel images: slim Debian, its Python, the Python kernel.
FROM orbit-base-rootfs:bookworm AS python
ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/orbit/env/bin:/opt/orbit/base/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    UV_NO_CACHE=1 \
    UV_NO_CONFIG=1 \
    UV_PYTHON_DOWNLOADS=never
COPY dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/90-orbit-slim
COPY apt-slim.conf /etc/apt/apt.conf.d/90-orbit-slim
# Certificates the host trusts beyond the public ones (certificates only).
COPY host-ca.crt /usr/local/share/ca-certificates/orbit-host-ca.crt
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 \
 && update-ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old

FROM python AS build
COPY --from=orbit-uv /uv /usr/local/bin/uv
RUN uv venv --python /usr/bin/python3 /opt/orbit/base \
 && uv pip install --python /opt/orbit/base/bin/python ipykernel \
 && python3 -m compileall -q -j 0 -x '/tests?/' /opt/orbit/base/lib/python3.11/site-packages \
 && install -d /opt/orbit/spec \
 && uv pip freeze --python /opt/orbit/base/bin/python > /opt/orbit/spec/base.lock.txt \
 && uv venv --python /usr/bin/python3 /opt/orbit/env \
 && echo /opt/orbit/base/lib/python3.11/site-packages > /opt/orbit/env/lib/python3.11/site-packages/_orbit_base.pth

FROM python
COPY --from=build /opt/orbit /opt/orbit
RUN install -d -m 0755 /run/orbit
COPY orbit-guard orbit-pins /opt/orbit/bin/
LABEL org.jupyter.orbit.role="base" \
      org.jupyter.orbit.format="1"
