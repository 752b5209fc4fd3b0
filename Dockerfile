# syntax=docker/dockerfile:1
# The sessionbeat image: the aggregator (default command) and the dashboard
# (`sessionbeat dashboard`), as run by compose.yaml. Build: docker compose build
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/sessionbeat
WORKDIR /src
# What the wheel needs: the package (its data, the embedded broker's config and the demo's
# recorded Claude Code sessions, lives inside it).
COPY pyproject.toml README.md ./
COPY src/ src/
RUN /opt/sessionbeat/bin/pip install .

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 sessionbeat \
    && useradd --system --uid 10001 --gid sessionbeat --no-log-init \
       --home-dir /var/lib/sessionbeat --create-home sessionbeat
COPY --from=build /opt/sessionbeat /opt/sessionbeat
ENV PATH=/opt/sessionbeat/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SESSIONBEAT_STATE_DIR=/var/lib/sessionbeat
USER sessionbeat
WORKDIR /var/lib/sessionbeat
VOLUME ["/var/lib/sessionbeat"]
# 8787: aggregator API and /metrics; 8501: the Streamlit dashboard.
EXPOSE 8787 8501
ENTRYPOINT ["sessionbeat"]
CMD ["aggregator", "--bind", "0.0.0.0", "--port", "8787"]
