"""The web server as the run command serves it (gunicorn with uvicorn workers, `petstore/gunicorn.py`,
started by the harness): the client address is the socket's whatever X-Forwarded-For says, idle
keep-alive connections outlive clients' pools, and it stops cleanly."""

import http.client
import time

import pytest
import requests

from harness import Processes
from harness.processes import free_port

# The server process must see what the tests write: committed, not rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = {"LOGIN_FAILURE_LIMIT_PER_ADDRESS": "5", "LOGIN_FAILURE_LIMIT_PER_USERNAME": "5"}


def server_env(worker_env) -> dict:
    # As an operator runs it without metrics: no multiprocess folder.
    return {name: value for name, value in {**worker_env, **LIMITS}.items() if name != "PROMETHEUS_MULTIPROC_DIR"}


@pytest.fixture(scope="module")
def web(worker_env, tmp_path_factory):
    processes = Processes(env=server_env(worker_env), logs=tmp_path_factory.mktemp("web"))
    yield processes.start_web(port=free_port(), workers=1, threads=2)
    processes.stop_all()


def test_a_rotating_x_forwarded_for_does_not_escape_the_login_limit(web):
    statuses = [
        requests.post(
            f"{web}/v1/auth/tokens",
            json={"username": f"someone{n}", "password": "guess"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
            timeout=10,
        ).status_code
        for n in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3


def test_an_idle_keep_alive_connection_outlives_a_client_pool_s_expiry(web):
    connection = http.client.HTTPConnection(web.removeprefix("http://"), timeout=5)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() and connection.sock is not None
        first_socket = connection.sock
        time.sleep(6)  # past uvicorn's default of 5 s and httpx's pool expiry
        connection.request("GET", "/healthz")  # a server that closed it: RemoteDisconnected here
        assert connection.getresponse().status == 200
        assert connection.sock is first_socket
    finally:
        connection.close()


def test_stopping_without_a_metrics_folder_leaves_no_traceback(worker_env, tmp_path):
    processes = Processes(env=server_env(worker_env), logs=tmp_path)
    processes.start_web(port=free_port(), workers=1, threads=1)
    processes.stop_all()
    log = processes.log("web").read_text()
    assert "Shutting down: Master" in log or "Handling signal" in log, log
    assert "Traceback" not in log and "TypeError" not in log, log


def test_a_charset_that_is_no_text_encoding_is_a_problem_document_not_a_plain_500(web):
    # Under uvicorn the API's paths reach Django's WSGI request (a2wsgi), which once failed in its
    # constructor on `charset=bz2` beside a query string, before any middleware.
    response = requests.post(
        f"{web}/v1/users?x=1", data=b"{}", headers={"Content-Type": "application/json; charset=bz2"}, timeout=10
    )
    assert response.status_code == 415
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "bz2" in response.json()["detail"]
