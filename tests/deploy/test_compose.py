"""compose.yaml: oculi on the official PostgreSQL image, started only once PostgreSQL is healthy.

No Docker daemon or image registry is reachable here, so compose itself is not run;
the container test (tests/conformance/test_container.py) runs the same image with the
same variables against a real PostgreSQL. This checks the file's wiring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_oculi_starts_after_a_healthy_postgresql(compose: dict[str, Any]) -> None:
    postgres, oculi = compose["services"]["postgres"], compose["services"]["oculi"]
    assert postgres["image"].split(":")[0] == "postgres"  # the official image
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert oculi["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert oculi["build"] == "."


def test_store_url_names_the_postgres_service_and_its_credentials(compose: dict[str, Any]) -> None:
    postgres, oculi = compose["services"]["postgres"], compose["services"]["oculi"]
    url = urlsplit(oculi["environment"]["OCULI_STORE_URL"])
    env = postgres["environment"]
    assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
    assert url.username == env["POSTGRES_USER"] and url.password == env["POSTGRES_PASSWORD"]
    assert url.path == "/" + env["POSTGRES_DB"]


def test_keys_come_from_an_env_file_and_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    oculi = compose["services"]["oculi"]
    assert oculi["env_file"] == ".env" and "OCULI_API_KEYS" not in oculi["environment"]
    named = set(compose["volumes"])
    mounts = {
        mount.split(":")[0]: mount.split(":")[1]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
    }
    assert {"pgdata", "models", "data"} <= named
    assert mounts["pgdata"] == "/var/lib/postgresql/data" and mounts["models"] == "/models"
    assert {"8000:8000", "50051:50051"} <= set(oculi["ports"])
    assert "/health/ready" in " ".join(oculi["healthcheck"]["test"])
