"""The pre-flight reachability check: an absent server is a one-line error, a busy one is not."""

from __future__ import annotations

import socket
import threading

import pytest

from evalkit.backends.openai_models import check_reachable
from evalkit.errors import EvalkitError


def test_a_server_that_accepts_but_answers_late_is_reachable():
    # llama-cpp-python's /models waits behind every queued generation: busy, not absent.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    try:
        check_reachable(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", timeout=0.3)
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_nothing_listening_is_a_clear_error():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(EvalkitError, match="cannot reach the model server"):
        check_reachable(f"http://127.0.0.1:{port}/v1", timeout=1)
