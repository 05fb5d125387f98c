"""The front routes to (host, port) addresses, not only to ports on 127.0.0.1: a swarm's
tasks listen on their node's address. Real sockets: backends on 127.0.0.2 and
127.0.0.3 (the whole 127.0.0.0/8 is this host's loopback), the proxy on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
import pytest

from stageline.agent.proxy import Backends, Proxy
from stageline.agent.release import EnvState, Group, ReleaseSpec
from stageline.agent.spec import ProcessSpec, SpecError

from .helpers import free_port

TEMPLATE = ProcessSpec("production", "sha256:abc", ["app", "{port}"], "/", {}, 8604, "/", "/l")


def _port_on(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def _answering(host: str, port: int, name: bytes) -> asyncio.Server:
    """A backend on ``host:port`` that answers every request with ``name``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readuntil(b"\r\n\r\n")) if not reader.at_eof() else False:
            head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(name)
            writer.write(head + name)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, host, port)


def test_the_proxy_forwards_to_backends_on_other_hosts_round_robin() -> None:
    async def check() -> None:
        ports = [_port_on("127.0.0.2"), _port_on("127.0.0.3")]
        servers = [
            await _answering("127.0.0.2", ports[0], b"two"),
            await _answering("127.0.0.3", ports[1], b"three"),
        ]
        proxy = Proxy("127.0.0.1", free_port())
        await proxy.start()
        proxy.switch(Backends("r", [("127.0.0.2", ports[0]), ("127.0.0.3", ports[1])]))
        try:
            async with httpx.AsyncClient(trust_env=False) as http:
                bodies = [
                    (await http.get(f"http://127.0.0.1:{proxy.port}/")).text for _ in range(4)
                ]
            # nothing listens on 127.0.0.1 at those ports: an address-blind proxy fails here
            assert sorted(bodies) == ["three", "three", "two", "two"]
        finally:
            await proxy.close()
            for server in servers:
                server.close()
                await server.wait_closed()

    asyncio.run(check())


def test_a_group_keeps_its_hosts_and_an_older_file_is_on_loopback(tmp_path: Path) -> None:
    spec = ReleaseSpec(TEMPLATE, processes=2)
    remote = Group.at(spec, [("10.0.0.5", 20001), ("10.0.0.6", 20002)])
    assert remote.addresses == (("10.0.0.5", 20001), ("10.0.0.6", 20002))
    assert Group.from_dict(json.loads(json.dumps(remote.to_dict()))) == remote
    local = Group.at(spec, [("127.0.0.1", 20001), ("127.0.0.1", 20002)])
    assert local == Group(spec, (20001, 20002)) and "hosts" not in local.to_dict()
    older = {"spec": spec.to_dict(), "ports": [40001, 40002]}  # written before hosts existed
    read = EnvState.from_dict({"serving": older}).serving
    assert read is not None and read.addresses == (("127.0.0.1", 40001), ("127.0.0.1", 40002))
    assert Backends("r", read.addresses).ports == Backends("r", [40001, 40002]).ports


@pytest.mark.parametrize("hosts", [["10.0.0.5"], ["node-1", "node-2"], [5, 6]])
def test_hosts_must_be_one_address_per_port(hosts: list[object]) -> None:
    data = {"spec": ReleaseSpec(TEMPLATE).to_dict(), "ports": [1, 2], "hosts": hosts}
    with pytest.raises(SpecError, match="'hosts' must list one IP address per port"):
        Group.from_dict(data)
