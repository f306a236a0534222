# igg4-cds: the CDS Hooks service (and the recruiter worklist) under gunicorn.
#   docker build -t igg4-cds .
#   docker run -p 8080:8080 -v igg4-data:/var/lib/igg4-cds \
#       -e IGG4_CDS_PUBLIC_BASE_URL=https://cds.example.org \
#       -e IGG4_CDS_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
#       -v $PWD/site.yaml:/etc/igg4-cds/config.yaml:ro -e IGG4_CDS_CONFIG=/etc/igg4-cds/config.yaml \
#       igg4-cds
# Configuration: /etc/igg4-cds/config.yaml (IGG4_CDS_CONFIG) and IGG4_CDS_<KEY> variables, see
# cds_service/config.py. PUBLIC_BASE_URL (the URL EHRs call; the audience of their JWTs) is required
# while JWT verification is on. SECRET_KEY signs worklist sessions: set it, the same for every
# replica; without it a key is generated into /var/lib/igg4-cds/secret_key (kept on the volume).
# The SQLite default and the instance folder live in /var/lib/igg4-cds, owned by the service's user;
# set IGG4_CDS_DATABASE_URL=postgresql+psycopg://... for PostgreSQL. The hook's outbox (writes not yet
# stored while the database is away) is kept on the same volume (HOOK_OUTBOX_DIR), so that a
# restarted container replays it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md* ./
COPY cds_service ./cds_service
COPY fhir_mappings ./fhir_mappings
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/igg4-cds --create-home igg4
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER igg4
WORKDIR /var/lib/igg4-cds
VOLUME /var/lib/igg4-cds
ENV IGG4_CDS_DATABASE_URL=sqlite:////var/lib/igg4-cds/igg4-cds.db \
    IGG4_CDS_INSTANCE_PATH=/var/lib/igg4-cds \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
# `igg4-cds serve` is gunicorn (2 workers x 4 threads, gthread) with the service's own settings:
# migrations once before the workers start, no access log (request lines of the worklist carry
# patient ids), a configuration error stops the start with one line, the garbage collector set up
# in each worker, and multi-process metrics when METRICS_ENABLED.
CMD ["igg4-cds", "serve", "--host", "0.0.0.0", "--port", "8080"]
