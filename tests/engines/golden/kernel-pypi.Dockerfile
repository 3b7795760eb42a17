# Jupyter Orbit kernel image for environment 880611e751e0a956c0d0
FROM orbit-base:0123 AS pypi
COPY --from=orbit-uv /uv /usr/local/bin/uv
COPY requirements.in /opt/orbit/spec/
# resolve everything, preferring the base's versions; install what the base lacks
RUN cp /opt/orbit/spec/base.lock.txt /opt/orbit/spec/requirements.lock.txt \
 && uv pip compile --python /opt/orbit/env/bin/python --quiet --no-header --emit-index-url /opt/orbit/spec/requirements.in -o /opt/orbit/spec/requirements.lock.txt \
 && python3 -I /opt/orbit/bin/orbit-pins missing /opt/orbit/spec/base.lock.txt /opt/orbit/spec/requirements.lock.txt > /tmp/missing.txt \
 && if [ -s /tmp/missing.txt ]; then uv pip install --python /opt/orbit/env/bin/python --no-deps -r /tmp/missing.txt; fi \
 && python3 -m compileall -q -j 0 -x '/tests?/' /opt/orbit/env/lib/python3.11/site-packages

FROM orbit-base:0123
# PyPI packages
COPY --from=pypi /opt/orbit/env /opt/orbit/env
COPY --from=pypi /opt/orbit/spec /opt/orbit/spec
LABEL org.jupyter.orbit.role="kernel" \
      org.jupyter.orbit.format="1" \
      org.jupyter.orbit.base="orbit-base:0123" \
      org.jupyter.orbit.env-id="880611e751e0a956c0d0" \
      org.jupyter.orbit.spec="{\"as_of\":null,\"constraints\":[],\"index_options\":[],\"kernel\":\"python\",\"lock\":null,\"packages\":{\"pypi\":[\"ipykernel\",\"pandas\"]},\"python\":\"3.11\"}"
