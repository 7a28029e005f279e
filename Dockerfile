# wabridge for hosts other than App Service: `docker build -t wabridge .`
#   docker run -p 3978:3978 --env-file .env -v wabridge-archive:/var/lib/wabridge wabridge
# Configuration comes from the environment (README, "Configuration"); no secret is baked in.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The locked dependencies and build backend, every file checked against its sha256 (scripts/lock
# writes requirements.lock); a layer of its own, rebuilt only when the lock changes.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
COPY bridge ./bridge
COPY manifest ./manifest
# A regular (non-editable) install of wabridge alone, on the locked dependencies: the wheel
# carries the Teams manifest template and schema.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src \
 && /opt/venv/bin/pip check

FROM python:3.11-slim
RUN groupadd --system --gid 10001 wabridge \
 && useradd --system --uid 10001 --gid wabridge --home-dir /var/lib/wabridge --create-home \
    --shell /usr/sbin/nologin wabridge
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3978
# The default archive (ARCHIVE_URL unset) is ./archive, here /var/lib/wabridge/archive: mount a
# volume there, or set ARCHIVE_URL to the Azure container.
WORKDIR /var/lib/wabridge
USER 10001:10001
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]
CMD ["wabridge", "serve"]
