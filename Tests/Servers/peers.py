"""Real peers for the port-forward tests: echo servers a task offers, and clients a workstation runs.

  peers.py tcp-server  --ready-file F            echo each connection; close after the client's EOF
  peers.py udp-server  --ready-file F            echo each datagram to its sender
  peers.py ws-server   --ready-file F            websocket echo at /echo (keeps frame types); first
                                                 sends "header:<X-Test>" so header forwarding shows
  peers.py tcp-client  --port P --bytes N        send N random bytes, half-close, read the echo,
                                                 print "ok <sha256>" when identical
  peers.py udp-client  --port P --count N        N datagrams from each of two sockets, print "ok"
  peers.py ws-webserver --service URL --workflow W --task T --port TASK_PORT
                                                 a websocket through the router's webserver path
The servers write their port to --ready-file once listening.
"""
import argparse, asyncio, hashlib, json, os, socket, sys, threading


def ready(path, port):
    with open(path + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(path + ".tmp", path)


def tcp_server(args):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    ready(args.ready_file, server.getsockname()[1])

    def echo(conn):
        with conn:
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    while True:
        conn, _ = server.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def udp_server(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    ready(args.ready_file, sock.getsockname()[1])
    while True:
        data, addr = sock.recvfrom(65536)
        sock.sendto(b"echo:" + data, addr)


def ws_server(args):
    from aiohttp import web, WSMsgType

    async def echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("header:" + request.headers.get("X-Test", ""))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/echo", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready(args.ready_file, site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def tcp_client(args):
    payload = os.urandom(args.bytes)
    sock = socket.create_connection(("127.0.0.1", args.port))
    received = bytearray()

    def reader():
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            received.extend(data)

    thread = threading.Thread(target=reader)
    thread.start()
    view = memoryview(payload)
    for start in range(0, len(payload), 1 << 20):
        sock.sendall(view[start:start + (1 << 20)])
    sock.shutdown(socket.SHUT_WR)
    thread.join(timeout=300)
    sent, got = hashlib.sha256(payload).hexdigest(), hashlib.sha256(received).hexdigest()
    if sent != got:
        print(f"mismatch: sent {len(payload)} bytes {sent}, received {len(received)} bytes {got}")
        sys.exit(1)
    print("ok", got)


def udp_client(args):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for s in socks:
        s.settimeout(5)
    for i in range(args.count):
        for n, s in enumerate(socks):
            message = f"s{n}-{i}".encode()
            for attempt in range(5):  # UDP may drop; retry a few times
                s.sendto(message, ("127.0.0.1", args.port))
                try:
                    data, _ = s.recvfrom(65536)
                    if data == b"echo:" + message:
                        break
                    print("unexpected", data)
                    sys.exit(1)
                except socket.timeout:
                    continue
            else:
                print("no echo for", message)
                sys.exit(1)
    print("ok")


def ws_webserver(args):
    import aiohttp, urllib.request

    async def main():
        url = f"{args.service}/api/workflow/{args.workflow}/webserver/{args.task}?task_port={args.port}"
        info = json.loads(urllib.request.urlopen(urllib.request.Request(url, method="POST")).read())
        router, key = info["router_address"], info["key"]
        async with aiohttp.ClientSession() as session:
            control = await session.ws_connect(f"{router}/api/router/webserver/{args.workflow}/client/{key}")
            conn_key = "PORTFORWARD-test1"
            request = {"key": conn_key, "cookie": "", "type": "ws", "payload": {"path": "/echo", "headers": {"X-Test": "42"}}}
            await control.send_bytes(json.dumps(request).encode())
            ws = await session.ws_connect(f"{router}/api/router/portforward/{args.workflow}/client/{conn_key}")
            first = await ws.receive(timeout=20)
            assert first.type == aiohttp.WSMsgType.TEXT and first.data == "header:42", first
            await ws.send_str("hello text")
            reply = await ws.receive(timeout=20)
            assert reply.type == aiohttp.WSMsgType.TEXT and reply.data == "hello text", reply
            await ws.send_bytes(b"\x00\x01binary")
            reply = await ws.receive(timeout=20)
            assert reply.type == aiohttp.WSMsgType.BINARY and reply.data == b"\x00\x01binary", reply
            await ws.close()
            await control.close()
        print("ok")

    asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("--ready-file")
    parser.add_argument("--port", type=int)
    parser.add_argument("--bytes", type=int, default=1 << 20)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--service")
    parser.add_argument("--workflow")
    parser.add_argument("--task")
    args = parser.parse_args()
    {"tcp-server": tcp_server, "udp-server": udp_server, "ws-server": ws_server, "tcp-client": tcp_client,
     "udp-client": udp_client, "ws-webserver": ws_webserver}[args.mode.replace("_", "-")](args)
