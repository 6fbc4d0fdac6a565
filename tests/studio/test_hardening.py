"""Issue 15, item 12: the studio on a network keeps its Host check, drops stalled
connections, never waits for a body it will refuse, bounds its threads, and answers deep
JSON with 400."""

import socket
import time

from sonicmotion.studio.server import StudioServer, _QuietHTTPServer

from .conftest import Client


def raw(server, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_item_12_all_interfaces_keep_the_host_check_with_an_allow_list(tmp_path):
    server = StudioServer(tmp_path / "ws", host="0.0.0.0", port=0, allow_hosts=("studio.lan",)).start()
    try:
        client = Client(server)
        status, reply = client.request("GET", "/api/state", headers={"Host": f"attacker.example:{server.port}"})
        assert status == 403 and "--allow-host" in reply["error"]
        status, _ = client.request("GET", "/api/state", headers={"Host": f"studio.lan:{server.port}"})
        assert status == 200
        status, _ = client.request("GET", "/api/state", headers={"Host": f"127.0.0.1:{server.port}"})
        assert status == 200
    finally:
        server.close()


def test_item_12_stalls_huge_claims_deep_json_and_crowds(tmp_path):
    server = StudioServer(tmp_path / "ws", port=0, request_timeout=1.0, max_connections=2).start()
    try:
        host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
        # A claimed body of 9e18 bytes that never comes: answered at once, not waited for.
        start = time.perf_counter()
        reply = raw(server, b"POST /api/upload?name=a.wav HTTP/1.1\r\n" + host +
                    b"Content-Length: 9000000000000000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 413") and time.perf_counter() - start < 5
        # A request that stalls mid-headers is dropped after the timeout.
        start = time.perf_counter()
        raw(server, b"GET /api/state HTTP/1.1\r\n", timeout=10)
        assert time.perf_counter() - start < 5
        # JSON nested far too deep: 400, not a 500 from a RecursionError.
        for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40):
            reply = raw(server, b"POST /api/render HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            assert reply.startswith(b"HTTP/1.1 400") and b"nests deeper than 32" in reply, reply[:200]
        assert _QuietHTTPServer.request_queue_size == 128
    finally:
        server.close()
    # More stalled connections than workers: the extra one gets 503 at once. (A longer timeout
    # here, so a slow machine cannot time a stalled connection out before the extra one comes.)
    server = StudioServer(tmp_path / "ws2", port=0, request_timeout=20.0, max_connections=2).start()
    try:
        host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
        stalled = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        try:
            time.sleep(0.2)
            reply = raw(server, b"GET /api/state HTTP/1.1\r\n" + host + b"\r\n", timeout=5)
            assert reply.startswith(b"HTTP/1.1 503"), reply[:100]
        finally:
            for sock in stalled:
                sock.close()  # the server sees the end of the stream and frees the slots
        deadline = time.time() + 10
        status = None
        while time.time() < deadline and status != 200:
            time.sleep(0.1)
            status, _ = Client(server).request("GET", "/api/state")
        assert status == 200
    finally:
        server.close()
