#!/usr/bin/env python3
"""Drives `osmo service` the way a careless or hostile client would and reports what it saw.

Usage: service_abuse.py --url http://127.0.0.1:PORT --refresh-token-file F --log-dir DIR --pid PID

Prints one JSON object: each check's name -> {"ok": bool, "detail": str}. Checks:
  unauthenticated_action  POST /api/workflow/wf/exec/task/t without a token -> 401 (only when the
                          service listens beyond loopback; the caller says so with --beyond-loopback)
  text_on_byte_session    a TEXT frame on an exec router pair ends the pair (the other side is closed)
  text_on_webserver       a TEXT frame on a webserver pair is forwarded
  reserved_task_names     tasks named "metrics" and ".metrics" get their own files, never the
                          service's .metrics.jsonl
  descriptors             after 200 tasks sent logs, the service holds no .jsonl descriptor open
  log_done_unstored       when the task's log cannot be written, LOG_DONE is not acknowledged and
                          the connection is closed
  reconnect_takes_actions a ctrl that reconnects while its old connection is still open (the
                          service has not noticed it is dead): actions go to the new connection,
                          every one of them, and the old connection is closed
"""
import argparse, asyncio, json, os, sys

import aiohttp


def frame(obj):
    """A ctrl log frame: a JSON string holding a JSON object, then a newline."""
    return json.dumps(json.dumps(obj, separators=(",", ":"))) + "\n"


def log_line(task, text, seq):
    return frame({"Source": task, "Time": "2026-12-01T00:00:00Z", "Text": text, "IOType": "STDOUT", "Seq": seq})


async def token(session, base, refresh, workflow, task):
    params = {"workflow_id": workflow, "group_name": "g", "task_name": task, "retry_id": "0"}
    async with session.post(f"{base}/api/auth/jwt/refresh_token", params=params, json={"token": refresh}) as r:
        body = await r.json()
        return body["token"]


async def logger(session, base, jwt, workflow, task):
    ws_base = base.replace("http://", "ws://")
    return await session.ws_connect(f"{ws_base}/api/logger/workflow/{workflow}/osmo_ctrl/{task}/retry_id/0",
                                    headers={"Authorization": f"Bearer {jwt}"}, max_msg_size=0)


async def send_and_ack(ws, lines):
    for line in lines:
        await ws.send_str(line)
    await ws.send_str(frame({"Source": "x", "Time": "2026-12-01T00:00:00Z", "Text": "", "IOType": "LOG_DONE"}))
    while True:
        msg = await asyncio.wait_for(ws.receive(), 20)
        if msg.type == aiohttp.WSMsgType.TEXT and "log_done" in msg.data:
            return True
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
            return False


async def pair(session, base, jwt, kind, key):
    ws_base = base.replace("http://", "ws://")
    auth = {"Authorization": f"Bearer {jwt}"}
    backend = await session.ws_connect(f"{ws_base}/api/router/{kind}/wf/backend/{key}", headers=auth)
    client = await session.ws_connect(f"{ws_base}/api/router/{kind}/wf/client/{key}", headers=auth)
    return backend, client


async def ended(ws, seconds=10):
    """True when the connection closes (rather than delivering anything) within `seconds`."""
    try:
        msg = await asyncio.wait_for(ws.receive(), seconds)
    except asyncio.TimeoutError:
        return False
    return msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--refresh-token-file", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--beyond-loopback", action="store_true")
    args = ap.parse_args()
    refresh = open(args.refresh_token_file).read().strip()
    base = args.url
    results = {}

    def record(name, ok, detail):
        results[name] = {"ok": bool(ok), "detail": detail}

    # No pool limit: the descriptor check keeps 200 websockets open at once (the default is 100).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        jwt = await token(session, base, refresh, "wf", "t")

        if args.beyond_loopback:
            async with session.post(f"{base}/api/workflow/wf/exec/task/t") as r:
                record("unauthenticated_action", r.status == 401, f"status {r.status}")
            async with session.post(f"{base}/api/workflow/wf/exec/task/t", headers={"Authorization": f"Bearer {jwt}"}) as r:
                # Authenticated: past the check (404 because no ctrl of that task connected).
                record("authenticated_action", r.status == 404, f"status {r.status}")

        backend, client = await pair(session, base, jwt, "exec", "abuse-exec")
        await backend.send_bytes(b"hello")
        first = await asyncio.wait_for(client.receive(), 10)
        await backend.send_str("a text frame")
        record("text_on_byte_session", first.type == aiohttp.WSMsgType.BINARY and await ended(client),
               f"first {first.type}, then the pair {'ended' if client.closed else 'stayed open'}")
        await backend.close()
        await client.close()

        backend, client = await pair(session, base, jwt, "webserver", "abuse-web")
        await backend.send_str("browser text")
        got = await asyncio.wait_for(client.receive(), 10)
        record("text_on_webserver", got.type == aiohttp.WSMsgType.TEXT and got.data == "browser text", f"{got.type} {got.data!r}")
        await backend.close()
        await client.close()

        ok, details = True, []
        for task in ["metrics", ".metrics"]:
            jwt_t = await token(session, base, refresh, "names", task)
            ws = await logger(session, base, jwt_t, "names", task)
            acked = await send_and_ack(ws, [log_line(task, f"line of {task}", 1)])
            await ws.close()
            ok = ok and acked
            details.append(f"{task}: {'acked' if acked else 'not acked'}")
        wf_dir = os.path.join(args.log_dir, "names")
        names = sorted(os.listdir(wf_dir)) if os.path.isdir(wf_dir) else []
        metrics_file = os.path.join(wf_dir, ".metrics.jsonl")
        own = not os.path.exists(metrics_file) or "line of" not in open(metrics_file).read()
        record("reserved_task_names", ok and own and "metrics.jsonl" in names and "_.metrics.jsonl" in names,
               f"{'; '.join(details)}; files {names}")

        sockets = []
        for i in range(200):
            jwt_i = await token(session, base, refresh, "many", f"task-{i}")
            ws = await logger(session, base, jwt_i, "many", f"task-{i}")
            await send_and_ack(ws, [log_line(f"task-{i}", "x", 1)])
            sockets.append(ws)
        held = 0
        for fd in os.listdir(f"/proc/{args.pid}/fd"):
            try:
                if os.readlink(f"/proc/{args.pid}/fd/{fd}").endswith(".jsonl"):
                    held += 1
            except OSError:
                pass
        stored = len([n for n in os.listdir(os.path.join(args.log_dir, "many")) if n.endswith(".jsonl")])
        record("descriptors", held == 0 and stored == 200, f"{held} .jsonl descriptors held with 200 tasks connected; {stored} files")
        for ws in sockets:
            await ws.close()

        # A reconnect before the old connection is noticed dead: both are open at once. The
        # old one must neither take actions nor keep the new one from getting them.
        jwt_r = await token(session, base, refresh, "recon", "t")
        old = await logger(session, base, jwt_r, "recon", "t")
        await send_and_ack(old, [log_line("t", "first", 1)])
        new = await logger(session, base, jwt_r, "recon", "t")
        await send_and_ack(new, [log_line("t", "second", 2)])
        keys = []
        for _ in range(3):
            async with session.post(f"{base}/api/workflow/recon/exec/task/t?entry_command=true",
                                    headers={"Authorization": f"Bearer {jwt_r}"}) as r:
                keys.append((await r.json())["key"])
        got = []
        try:
            while len(got) < len(keys):
                msg = await asyncio.wait_for(new.receive(), 10)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got.append(json.loads(msg.data)["key"])
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    break
        except asyncio.TimeoutError:
            pass
        old_closed = await ended(old, 10)
        record("reconnect_takes_actions", got == keys and old_closed,
               f"new connection got {len(got)} of {len(keys)} actions in order: {got == keys}; old connection {'closed' if old_closed else 'still open'}")
        await old.close()
        await new.close()

        # The workflow's log directory is a file: nothing can be stored.
        open(os.path.join(args.log_dir, "broken"), "w").write("not a directory")
        jwt_b = await token(session, base, refresh, "broken", "t")
        ws = await logger(session, base, jwt_b, "broken", "t")
        acked = await send_and_ack(ws, [log_line("t", "lost?", 1)])
        record("log_done_unstored", not acked, "acknowledged" if acked else "not acknowledged, connection closed")
        await ws.close()

    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
