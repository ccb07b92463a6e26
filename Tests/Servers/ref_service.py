#!/usr/bin/env python3
"""Stand-in for the real OSMO service's ctrl-facing endpoints, speaking its exact wire frames.

Usage: ref_service.py --port 0 --state DIR [--router-timeout 60] [--jwt-ttl 300]
Prints {"port": N} once listening on 127.0.0.1. Written from the reference service's behaviour
(core/auth/auth_service.py, logger/ctrl_websocket.py, router/router.py), not from osmo's code.

POST /api/auth/jwt/refresh_token?workflow_id=&group_name=&task_name=[&retry_id=]  {"token": T}
  T: 43 or 64 chars, equal to DIR/refresh_token (made if missing). 200 {"token","expires_at"}
  (FastAPI drops the null "error"); 400 {"message","error_code":"USER","workflow_id":null};
  400 {"detail":{"token":null,"expires_at":null,"error":"PENDING"}} while DIR/pending_count holds
  N>0 (decremented per call), "FINISHED" while DIR/finished exists; 422 {"detail":[...]}.
GET /api/logger/workflow/{wf}/osmo_ctrl/{task}/retry_id/{r}: websocket; Bearer JWT, else 401.
  TEXT frames hold a JSON string holding a JSON object. Objects -> DIR/frames.jsonl, the first 50
  raw frames -> DIR/raw_frames.jsonl, protocol errors -> DIR/errors.jsonl. LOG_DONE is answered
  with TEXT {"action": "log_done"}. A BINARY or single-encoded frame closes with 1011, an unknown
  IOType with 1000, as the real handler's exceptions do.
POST /test/action/{wf}/{task}[?frame=text]: send json.dumps(body) on that task's logger socket,
  BINARY by default: the service passes redis's bytes to send_text() and uvicorn's websockets
  protocol sends bytes as a binary frame (the reference ctrl reads actions from binary only).
/api/router/{exec|portforward|rsync}/{wf}/{backend|client}/{key}: paired by key, BINARY copied both
  ways; an empty frame ends its direction only, a disconnect or TEXT frame (an error) both. An
  unpaired backend is closed after --router-timeout s: 4000 "Router connection timeout".
/api/router/webserver/{wf}/backend/{key}: control socket; POST /test/webserver/{key} sends the body
  there as compact JSON TEXT (send_json); GET /api/router/webserver/{key} -> true|false.
GET /api/router/version; GET /test/stats -> counters.
"""
import argparse, asyncio, base64, datetime, json, os, secrets, time
from aiohttp import web, WSMsgType

IOTYPES = {"STDOUT", "STDERR", "END_FLAG", "OSMO_CTRL", "DOWNLOAD", "UPLOAD", "LOG_DONE", "METRICS",
           "DUMP", "BARRIER"}
CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
MAX_FRAME = 16 * 1024 * 1024  # uvicorn's default ws_max_size


def reply(obj, status=200):
    return web.json_response(obj, status=status, dumps=lambda o: json.dumps(
        o, ensure_ascii=False, separators=(",", ":")))


def missing(loc, value=None):
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": value}


class Disconnect(Exception):
    """A router peer went away (or sent a text frame): the pairing ends."""


class Service:
    def __init__(self, state, router_timeout, jwt_ttl):
        self.state, self.router_timeout, self.jwt_ttl = state, router_timeout, jwt_ttl
        self.tokens = {}      # issued JWT -> expires_at
        self.actions = {}     # (wf, task) -> asyncio.Queue of (payload, "text"|"binary")
        self.pairs = {}       # router key -> {"ws", "connect", "close"}, like router.connections
        self.webservers = {}  # webserver key -> control websocket
        self.raw_count = 0
        self.stats = dict.fromkeys(["refresh_requests", "refreshes", "frames", "log_lines",
                                    "log_done", "barriers", "metrics", "connections", "errors",
                                    "router_pairs"], 0)
        if not os.path.exists(self.path("refresh_token")):
            with open(self.path("refresh_token"), "w") as f:
                f.write(secrets.token_urlsafe(32))

    def path(self, name):
        return os.path.join(self.state, name)

    def append(self, name, obj):
        with open(self.path(name), "a") as f:
            f.write(json.dumps(obj) + "\n")

    def error(self, where, message, raw=None):
        self.stats["errors"] += 1
        self.append("errors.jsonl", {"where": where, "error": message, "raw": raw})

    # ---- auth ----------------------------------------------------------------------------------
    async def refresh(self, req):
        self.stats["refresh_requests"] += 1
        q = req.query
        errs = [missing(["query", k]) for k in ("workflow_id", "group_name", "task_name")
                if k not in q]
        if not q.get("retry_id", "0").lstrip("-").isdigit():
            errs.append({"type": "int_parsing", "loc": ["query", "retry_id"], "input": q["retry_id"]})
        try:
            body = await req.json()
        except ValueError:
            body = None
            errs.append({"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"})
        else:
            if not isinstance(body, dict) or not isinstance(body.get("token"), str):
                errs.append(missing(["body", "token"], body))
        if errs:
            return reply({"detail": errs}, 422)
        token = body["token"]
        if len(token) not in (43, 64):
            return self.user_error(f"Refresh token has invalid length {len(token)}")
        status = self.task_status()
        if status:
            return reply({"detail": {"token": None, "expires_at": None, "error": status}}, 400)
        with open(self.path("refresh_token")) as f:
            if token != f.read().strip():
                return self.user_error(f"Workflow {q['workflow_id']} with task {q['task_name']} "
                                       "refresh token is invalid")
        expires = int(time.time() + self.jwt_ttl)
        jwt = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                       for part in ({"alg": "RS256", "typ": "JWT"},
                                    {"exp": expires, "workflow_id": q["workflow_id"]}))
        jwt += "." + secrets.token_urlsafe(32)
        self.tokens[jwt] = expires
        self.stats["refreshes"] += 1
        return reply({"token": jwt, "expires_at": expires})

    def task_status(self):
        """FINISHED while DIR/finished exists; PENDING while DIR/pending_count holds N>0 (uses one)."""
        if os.path.exists(self.path("finished")):
            return "FINISHED"
        try:
            with open(self.path("pending_count"), "r+") as f:
                n = int(f.read().strip() or 0)
                if n > 0:
                    f.seek(0), f.truncate(), f.write(str(n - 1))
                    return "PENDING"
        except (OSError, ValueError):
            pass
        return None

    @staticmethod
    def user_error(message):  # the OSMOUserError handler's shape
        return reply({"message": message, "error_code": "USER", "workflow_id": None}, 400)

    # ---- logger --------------------------------------------------------------------------------
    async def logger(self, req):
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or self.tokens.get(token, 0) <= time.time():
            return reply({"detail": "Not authenticated"}, 401)
        wf, task = req.match_info["wf"], req.match_info["task"]
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME)
        await ws.prepare(req)
        self.stats["connections"] += 1
        queue = self.actions.setdefault((wf, task), asyncio.Queue())
        sender = asyncio.create_task(self.send_actions(ws, queue))
        try:
            async for msg in ws:
                code, iotype = self.on_frame(msg, f"logger {wf}/{task}")
                if code:
                    await ws.close(code=code)
                    break
                if iotype == "LOG_DONE":
                    await ws.send_str(json.dumps({"action": "log_done"}))
        finally:
            sender.cancel()
        return ws

    @staticmethod
    async def send_actions(ws, queue):
        while True:
            payload, frame = await queue.get()
            await (ws.send_str(payload) if frame == "text" else ws.send_bytes(payload.encode()))

    def on_frame(self, msg, where):
        """Decodes one ctrl frame as the real service does: (close code or None, IOType)."""
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None, None
        raw = msg.data if msg.type == WSMsgType.TEXT else msg.data.decode("utf-8", "replace")
        self.raw_count += 1
        if self.raw_count <= 50:
            self.append("raw_frames.jsonl", {"frame_type": msg.type.name.lower(), "raw": raw})
        if msg.type == WSMsgType.BINARY:  # receive_json() reads message["text"]: KeyError
            self.error(where, "binary frame (the service reads text frames only)", raw)
            return 1011, None
        try:
            obj = json.loads(json.loads(raw))  # TypeError unless the frame held a JSON string
            assert isinstance(obj, dict), "the inner value is not an object"
        except (ValueError, TypeError, AssertionError) as e:
            self.error(where, f"not a double-encoded JSON object: {e}", raw)
            return 1011, None
        self.stats["frames"] += 1
        self.append("frames.jsonl", obj)
        low = {k.lower(): v for k, v in obj.items()}
        iotype = low.get("iotype")
        if iotype not in IOTYPES:  # IOType(...) raises ValueError, which ends the handler
            self.error(where, f"unknown IOType {iotype!r}", raw)
            return 1000, iotype
        if iotype in ("LOG_DONE", "BARRIER"):
            self.stats["log_done" if iotype == "LOG_DONE" else "barriers"] += 1
        elif iotype == "METRICS":
            self.stats["metrics"] += 1
            if low.get("metrictype") not in ("group_metrics", "task_io_metrics") or \
                    not isinstance(low.get("metric"), dict):
                self.error(where, "bad METRICS frame", raw)
                return 1011, iotype
        else:
            self.stats["log_lines"] += 1
            try:  # LogStreamBody(source=..., time=..., text=...) must validate
                assert isinstance(low["source"], str) and isinstance(low.get("text", ""), str)
                datetime.datetime.fromisoformat(low["time"])
            except (KeyError, AssertionError, TypeError, ValueError) as e:
                self.error(where, f"bad log line: {e!r}", raw)
                return 1011, iotype
        return None, iotype

    async def queue_action(self, req):
        frame = req.query.get("frame", "binary")
        queue = self.actions.setdefault((req.match_info["wf"], req.match_info["task"]),
                                        asyncio.Queue())
        await queue.put((json.dumps(await req.json()), frame))
        return reply({"queued": True, "frame": frame})

    # ---- router --------------------------------------------------------------------------------
    async def backend(self, req):
        key = req.match_info["key"]
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME)
        await ws.prepare(req)
        close = asyncio.Event()
        try:
            if key in self.pairs:
                self.pairs[key].update(ws=ws, close=close)
                self.pairs[key]["connect"].set()
            else:
                self.pairs[key] = {"ws": ws, "connect": asyncio.Event(), "close": close}
                await asyncio.wait_for(self.pairs[key]["connect"].wait(), self.router_timeout)
            await close.wait()  # the client's handler does the copying
        except asyncio.TimeoutError:
            await ws.close(code=4000, message=b"Router connection timeout")
        self.pairs.pop(key, None)
        await ws.close()
        return ws

    async def client(self, req):
        key = req.match_info["key"]
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME)
        await ws.prepare(req)
        close = None
        try:
            if key in self.pairs:
                self.pairs[key]["connect"].set()
            else:
                self.pairs[key] = {"ws": None, "connect": asyncio.Event(), "close": None}
                await asyncio.wait_for(self.pairs[key]["connect"].wait(),
                                       float(req.query.get("timeout", self.router_timeout)))
            backend, close = self.pairs[key]["ws"], self.pairs[key]["close"]
            if backend is not None:
                self.stats["router_pairs"] += 1
                tasks = [asyncio.create_task(self.copy(ws, backend, key)),
                         asyncio.create_task(self.copy(backend, ws, key))]
                try:  # common.gather_cancel: wait for both; the first exception cancels the other
                    await asyncio.gather(*tasks)
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        except Disconnect:
            pass
        except asyncio.TimeoutError:
            self.pairs.pop(key, None)
        if close:
            close.set()
        await ws.close()
        return ws

    async def copy(self, src, dst, key):
        while True:
            msg = await src.receive()
            if msg.type in CLOSED:
                raise Disconnect()
            if msg.type == WSMsgType.TEXT:  # receive_bytes() fails on a text frame
                self.error(f"router {key}", "text frame on a router connection", msg.data)
                raise Disconnect()
            if msg.type == WSMsgType.BINARY:
                if not msg.data:
                    return  # this direction is done; the other keeps flowing
                await dst.send_bytes(msg.data)

    async def webserver_backend(self, req):
        key = req.match_info["key"].lower()
        ws = self.webservers[key] = web.WebSocketResponse(max_msg_size=MAX_FRAME)
        await ws.prepare(req)
        async for msg in ws:
            self.error(f"webserver {key}", f"unexpected {msg.type.name} frame", str(msg.data))
        if self.webservers.get(key) is ws:
            del self.webservers[key]
        return ws

    async def webserver_send(self, req):
        ws = self.webservers.get(req.match_info["key"].lower())
        if ws is None:
            return reply({"sent": False}, 404)
        await ws.send_str(json.dumps(await req.json(), separators=(",", ":"), ensure_ascii=False))
        return reply({"sent": True})

    def app(self):
        app = web.Application()
        add = app.router
        add.add_post("/api/auth/jwt/refresh_token", self.refresh)
        add.add_get("/api/logger/workflow/{wf}/osmo_ctrl/{task}/retry_id/{retry}", self.logger)
        add.add_post("/test/action/{wf}/{task}", self.queue_action)
        add.add_get("/api/router/{kind:exec|portforward|rsync}/{wf}/backend/{key}", self.backend)
        add.add_get("/api/router/{kind:exec|portforward|rsync}/{wf}/client/{key}", self.client)
        add.add_get("/api/router/webserver/{wf}/backend/{key}", self.webserver_backend)
        add.add_get("/api/router/webserver/{key}",
                    lambda req: reply(req.match_info["key"].lower() in self.webservers))
        add.add_post("/test/webserver/{key}", self.webserver_send)
        add.add_get("/api/router/version",
                    lambda req: reply({"major": "6", "minor": "4", "revision": "0", "hash": ""}))
        add.add_get("/test/stats", lambda req: reply(self.stats))
        return app


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state", required=True)
    p.add_argument("--router-timeout", type=float, default=60)
    p.add_argument("--jwt-ttl", type=int, default=300)
    a = p.parse_args()
    os.makedirs(a.state, exist_ok=True)
    runner = web.AppRunner(Service(a.state, a.router_timeout, a.jwt_ttl).app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", a.port).start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
