# The image of every Flockwatch process in infra/compose.yaml and infra/compose.single.yaml: Airflow (its task
# processes import every stage: torch, sentence-transformers, OpenCV, PyAV, ...), the stage workers and the
# collector. It installs what Flockwatch itself depends on (pyproject.toml [project].dependencies, at the versions of
# constraints.txt) and facenet-pytorch as the Makefile does; Flockwatch's own code comes from the repository mounted
# at /opt/flockwatch (PYTHONPATH), so code edits need no rebuild, dependency edits do.
# tests/unit/infra/test_compose.py checks that this covers every third-party package the DAGs and workers import.
FROM apache/airflow:3.3.2-python3.11

COPY pyproject.toml constraints.txt /opt/flockwatch-build/
# apache-airflow is one of the dependencies, pinned by constraints.txt to this image's version: pip keeps it.
# facenet-pytorch with --no-deps: its metadata pins torch<2.3, but its MTCNN runs on the pinned torch (pyproject).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/opt/flockwatch-build/pyproject.toml', 'rb'))['project']['dependencies']))" > /opt/flockwatch-build/requirements.txt \
    && pip install --no-cache-dir -c /opt/flockwatch-build/constraints.txt -r /opt/flockwatch-build/requirements.txt \
    && pip install --no-cache-dir --no-deps -c /opt/flockwatch-build/constraints.txt facenet-pytorch \
    && mkdir -p /opt/airflow/flockwatch-state
