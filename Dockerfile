# One image for every worker; the command picks the worker: `orderflow worker stock`.
# The base is pinned to an exact Python release (bump it on purpose, not by a rebuild).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The fonts `orderflow documents` embeds in its PDFs: Latin and Cyrillic (DejaVu Sans) and
# Chinese (WenQuanYi Micro Hei, Debian's smallest CJK font).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# Dependencies in a layer of their own, read from pyproject.toml alone: editing the code
# reuses it; only a change of dependencies installs them again.
COPY pyproject.toml /build/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/build/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /build/requirements.txt \
    && pip install -r /build/requirements.txt

# The code itself, installed without touching the dependencies above.
COPY README.md /build/README.md
COPY shared /build/shared
COPY services /build/services
COPY orderflow /build/orderflow
RUN pip install --no-deps /build && rm -rf /build

# A numeric non-root user (Kubernetes' runAsNonRoot can only check a number) and the one
# directory it writes: the notifier's maildir when no SMTP host is set, and any embedded
# SQLite database. The code stays root's and read-only to the worker.
RUN groupadd --system --gid 10001 orderflow \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/orderflow \
        orderflow \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/orderflow
ENV ORDERFLOW_NOTIFIER_MAILDIR=/var/lib/orderflow/mail \
    ORDERFLOW_METRICS_PORT=9100
VOLUME ["/var/lib/orderflow"]
WORKDIR /var/lib/orderflow
USER 10001:10001

EXPOSE 9100
# Ready: broker link up, database answering, and (the notifier) mail going out; /healthz is
# liveness. The port follows ORDERFLOW_METRICS_PORT.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/readyz' % os.environ['ORDERFLOW_METRICS_PORT'], timeout=3)"]
ENTRYPOINT ["orderflow"]
CMD ["--help"]
