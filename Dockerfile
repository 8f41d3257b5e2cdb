# One image for every Pilotage process: the three services, the gateway and the `pilotage migrate`
# job. docker-compose.yml picks the process with `command:`; the default is the gateway.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

RUN useradd --system --user-group --uid 10001 --no-create-home --home-dir /app pilotage

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when pyproject.toml changes. With no package
# sources present yet, `pip install .` installs the dependencies and the `pilotage` command; the
# code itself is imported from /app (PYTHONPATH), next to alembic.ini and migrations/, which
# `pilotage migrate` looks for beside the `pilotage` package.
COPY pyproject.toml ./
RUN pip install . && rm -rf build ./*.egg-info

COPY alembic.ini ./
COPY migrations ./migrations
COPY shared ./shared
COPY pilotage ./pilotage
COPY services ./services

USER pilotage

EXPOSE 8000 8001 8002 8003

CMD ["python", "-m", "pilotage.serve", "gateway", "--host", "0.0.0.0", "--port", "8000"]
