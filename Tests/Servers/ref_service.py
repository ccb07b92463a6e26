#!/usr/bin/env python3
"""Stand-in for the real OSMO service's ctrl-facing endpoints, speaking its exact wire frames.

Usage: ref_service.py --port 0 --state DIR [--router-timeout 60] [--jwt-ttl 300]
         [--generation 6.1|6.2|head] [--token-header NAME]... [--bad-token-status 400|500]
         [--ping-interval S] [--ping-timeout S] [--read-pace-ms N] [--ws-max-queue 32]
         [--max-task-log-lines 1000] [--max-log-lines 10000]
Prints {"port": N} once listening on 127.0.0.1. Written from the reference service's behaviour
(core/auth/auth_service.py, logger/ctrl_websocket.py, router/router.py), not from osmo's code.
References below are NVIDIA/OSMO at v6.1-rc6, v6.2-rc12 and HEAD 1da31e19e.

--generation picks the service release whose refresh endpoint and logger auth are served
(default head: what this script always did). What differs:
               6.1                          6.2                           head
  refresh      GET ?refresh_token=T&...     GET (deprecated) and POST     GET and POST
  POST         405                          {"token": T} body             {"token": T} body
  200 body     {token,expires_at,error:null} {token,expires_at,error:null} {token,expires_at}
  length check none (any length)            43 or 64 chars                43 or 64 chars
  422 detail   pydantic 1 shape             pydantic 1 shape              pydantic 2 shape
  ws header    x-osmo-auth: <jwt> (raw)     Authorization: Bearer <jwt>   Authorization: Bearer <jwt>
  made token   token_hex(32), 64 chars      token_urlsafe(32), 43 chars   token_urlsafe(32), 43 chars
- 6.1 routes: v6.1-rc6 auth_service.py:50-53, one GET handler on /api/auth/refresh_token and
  /api/auth/jwt/refresh_token, get_new_jwt_token(refresh_token: str, workflow_id: str,
  group_name: str, task_name: str, retry_id: int = 0); returns the dict with 'error': None
  (:104-106, no response_model). No length check; a wrong token is OSMOUserError(f'Workflow
  {wf} with task {task} refresh token is invalid') (:94-96). ctrl sends exactly these five query
  parameters with http.Get (v6.1-rc6 src/runtime/cmd/ctrl/ctrl.go:143-154); the token is
  secrets.token_hex(REFRESH_TOKEN_LENGTH=32) (src/utils/job/task.py:54, :2292).
- Any other method, POST included, is answered by Starlette's router, not by OSMO: the path
  matches but the method does not, so Route.handle raises HTTPException(405, headers={"Allow":
  "GET"}) and FastAPI's default handler sends 405 {"detail":"Method Not Allowed"} with header
  `allow: GET` (fastapi 0.115.5 / starlette 0.41.3, v6.1-rc6 src/locked_requirements.txt:339,
  :1087; observed by running those versions on a copy of these routes). HEAD is 405 too.
- 6.2/head: GET kept, "Deprecated: Use POST" (v6.2-rc12 auth_service.py:55-64, HEAD :57-67), POST
  added at v6.2-rc6 (v6.2-rc12 :67-74, HEAD :70-78), both -> _create_jwt_from_refresh_token
  (v6.2-rc12 :77-132, HEAD :81-136), which first checks len(token) in VALID_TOKEN_LENGTHS {43, 64}
  (HEAD task.py:57-62). So GET is NOT 405 there; PUT/DELETE/HEAD are (allow: GET, the first
  route on the path). v6.2-rc12 has no response_model, so "error": null is sent; HEAD has
  response_model=JwtTokenResponse, response_model_exclude_none=True (:57-58), so it is dropped.
  (v6.2-rc0..rc5 served GET only, 6.1-style apart from the length check.)
- 422 bodies: v6.1/v6.2 pin pydantic 1.10 ({"loc","msg":"field required","type":
  "value_error.missing"}, "value is not a valid integer"/"type_error.integer", "value is not a
  valid dict", "none is not an allowed value", "str type expected"; a JSON decode error alone:
  {"type":"json_invalid","loc":["body",pos],"msg":"JSON decode error","input":{},"ctx":{"error"}});
  fastapi 0.125.0 parses the body as JSON only when Content-Type is absent or application/(*+)json.
  head pins pydantic 2.12 (HEAD src/requirements.txt:22); its shapes below are kept as before.

POST /api/auth/jwt/refresh_token?workflow_id=&group_name=&task_name=[&retry_id=]  {"token": T}
GET  /api/auth/jwt/refresh_token?refresh_token=T&workflow_id=&group_name=&task_name=[&retry_id=]
  T: (6.2/head: 43 or 64 chars) equal to DIR/refresh_token (made if missing). 200
  {"token","expires_at"} (+ "error": null in 6.1/6.2); 400 {"message","error_code":"USER",
  "workflow_id":null}; 400 {"detail":{"token":null,"expires_at":null,"error":"PENDING"}} while
  DIR/pending_count holds N>0 (decremented per call), "FINISHED" while DIR/finished exists;
  422 {"detail":[...]}.
  --bad-token-status 500: the OSMOUserError answers (wrong token, bad length) are a plain-text 500
  "Internal Server Error" (text/plain; charset=utf-8), as from the standalone logger, which
  includes auth_service.router (logger/logger.py:51-53 at v6.1-rc6, v6.2-rc12; :56-58 at HEAD)
  but registers none of the API service's exception handlers (core/service.py:152-169 at
  v6.1-rc6, :226-244 at HEAD turn OSMOUserError into the 400), so Starlette's
  ServerErrorMiddleware answers. PENDING/FINISHED (HTTPException) and 422 stay as they are.
GET /api/logger/workflow/{wf}/osmo_ctrl/{task}/retry_id/{r}: websocket; a JWT from refresh, else
  401 {"detail":"Not authenticated"}. The logger checks no JWT itself: an Envoy jwt_authn filter
  does, in the logger pod's sidecar (service chart logger-service.yaml:197) at 6.1/6.2, in the
  gateway at HEAD. Its token locations: v6.1-rc6 _envoy-config.tpl:352-355 from_cookies IdToken,
  from_headers x-osmo-auth (no value_prefix: the raw JWT), so "Authorization: Bearer" is not
  looked at; v6.2-rc12 _envoy-config.tpl:294-297 and HEAD _gateway-envoy-config.tpl:857-860
  authorization with value_prefix "Bearer " and x-osmo-auth raw. ctrl puts the JWT in the header
  named by -tokenHeader: default x-osmo-auth at v6.1-rc6 (and v6.2-rc0), Authorization from
  v6.2-rc5 (src/runtime/pkg/args/ctrl_args.go:46), with "Bearer " added only for authorization
  (HEAD ctrl.go:228-232; v6.1-rc6 ctrl.go:226-229 sends it raw whatever the header).
  --token-header NAME (repeatable; default x-osmo-auth for 6.1, Authorization for 6.2/head): the
  header(s) accepted. Authorization wants "Bearer <jwt>", any other name the raw JWT. Stricter
  than the real 6.2+ Envoy on purpose, so a test sees which header ctrl used: pass
  `--token-header Authorization --token-header x-osmo-auth` to accept what it accepts. (The real
  401 is Envoy's "Jwt is missing"/"Jwt verification fails".)
  TEXT frames hold a JSON string holding a JSON object. Objects -> DIR/frames.jsonl, the first 50
  raw frames -> DIR/raw_frames.jsonl, protocol errors -> DIR/errors.jsonl. LOG_DONE is answered
  with TEXT {"action": "log_done"}. A BINARY or single-encoded frame closes with 1011, an unknown
  IOType with 1000, as the real handler's exceptions do.
DIR/auth.jsonl: one line per logger websocket or refresh request: {"path" (no query), "method",
  "header_name" (lower case: the accepted header found, else the first of Authorization,
  x-osmo-auth and the --token-header names present, else null), "header_value_kind":
  "bearer"|"raw"|"none", "status" (101 when the websocket was accepted)}. No values are logged.
POST /test/action/{wf}/{task}[?frame=text]: send json.dumps(body) on that task's logger socket,
  BINARY by default: the service passes redis's bytes to send_text() and uvicorn's websockets
  protocol sends bytes as a binary frame (the reference ctrl reads actions from binary only).
/api/router/{exec|portforward|rsync}/{wf}/{backend|client}/{key}: paired by key, BINARY copied both
  ways; an empty frame ends its direction only, a disconnect or TEXT frame (an error) both. An
  unpaired backend is closed after --router-timeout s: 4000 "Router connection timeout".
/api/router/webserver/{wf}/backend/{key}: control socket; POST /test/webserver/{key} sends the body
  there as compact JSON TEXT (send_json); GET /api/router/webserver/{key} -> true|false.
GET /api/router/version; GET /test/stats -> counters: refresh_requests (GET/POST handled, not
  405), refreshes (tokens issued), refresh_get, refresh_post (by method, whatever the answer),
  refresh_405, frames, log_lines, log_done, barriers, metrics, connections, errors, router_pairs,
  pings_sent, pongs_received (every PONG frame), dropped_ping_timeout, max_pong_delay_ms (the
  longest ping -> matching pong, as read by the service, over all logger sockets).

The logger under load (COMPATIBILITY.md section 4). The logger runs uvicorn.Config(app, host=,
port=, log_config=None, **ssl) and nothing else (HEAD logger/logger.py:95-96; v6.1-rc6 :88,
v6.2-rc12 :86: uvicorn.Config(app, host=host, port=port)); its chart runs that `logger` command
with redis/postgres/log flags only (HEAD deployments/charts/service/templates/
logger-service.yaml:85-117). So uvicorn's defaults apply: uvicorn[standard]==0.31.1 (HEAD
src/requirements.txt:42; 0.30.1 at v6.1-rc6/v6.2-rc12 :36) config.py:185-189 ws="auto",
ws_max_size 16 MiB, ws_max_queue 32, ws_ping_interval 20.0, ws_ping_timeout 20.0 (same at
0.30.1); "auto" is the websockets protocol whenever websockets is installed
(protocols/websockets/auto.py:7-21; websockets==11.0.3 at HEAD src/requirements.txt:113 and
v6.1-rc6/v6.2-rc12 :86), which hands those four values to websockets' legacy
WebSocketServerProtocol (websockets_impl.py:103-112). websockets 11.0.3
src/websockets/legacy/protocol.py:
- keepalive_ping :1234-1284: sleep ping_interval, ping() with a random 4-byte payload
  (:853-854), wait for its pong at most ping_timeout, repeat; on timeout
  fail_connection(1011, "keepalive ping timeout") (:1272), which cancels transfer_data_task,
  writes the close frame without waiting (:1411-1441); close_connection (:1286-1338) then
  half-closes and waits close_timeout (= timeout, 10 s: :200-201) before dropping the TCP.
  A pong acknowledges its ping and all earlier ones (:1132-1150); pings from the client are
  answered as they are read (:1123-1130).
- transfer_data :950-980: reads one message (control frames before it are handled then), waits
  while max_queue (32) messages are queued, appends it. The app takes one per receive_json()
  (ctrl_websocket.py HEAD :158) and does two XADD round trips per log line before the next
  (:204-211). So a pong is read only after every data frame sent before it, minus the 33 read
  ahead: with ctrl's queue deeper than that, its pong is late by the excess times the pace.
  (asgi_receive, uvicorn websockets_impl.py:360-385, still hands out queued messages after
  the failure; so does this script.)
--ping-interval S / --ping-timeout S (both unset by default: no pings, as before): the above;
  an interval without a timeout pings but never drops, a timeout alone does nothing (as in
  keepalive_ping). The drop writes close 1011 "keepalive ping timeout", then closes the TCP
  connection once the client answers the close or after 10 s.
--read-pace-ms N (default 0): sleep N ms after each log line (the IOTypes that are XADDed)
  before taking the next message.
--ws-max-queue N (default 32, uvicorn's ws_max_queue): messages read ahead in that mode.
Either of --ping-interval/--read-pace-ms switches the logger socket to that uvicorn-like mode
(aiohttp autoping=False: a reader task answers pings and matches pongs in frame order);
without them the socket is served as before (aiohttp answers pings itself).

"Redis", always written: DIR/redis/<wf>.jsonl (stream {wf}-logs) and DIR/redis/<wf>/<task>.jsonl
(stream {wf}-{task}-{retry}-logs, common.py HEAD :1108-1109; <task>.<retry>.jsonl when retry is
not 0), one JSON object per entry, oldest first, holding what XADD gets; frames.jsonl stays
untrimmed. ctrl_websocket.py HEAD :159 lower-cases the keys; :193-200 builds
LogStreamBody(source, retry_id (the URL's), time, text (default ""), io_type) for every IOType
but METRICS, LOG_DONE and BARRIER, so other keys are dropped (connectors/redis.py HEAD :185-191,
extra='forbid', only those five fields); :204-211 XADDs json.loads(logs.model_dump_json()) to
both streams with maxlen=workflow_config.max_log_lines / max_task_log_lines (v6.2-rc12 and
v6.1-rc6 :191-206 the same with logs.json()). Defaults max_log_lines 10000, max_task_log_lines
1000 (HEAD src/utils/connectors/postgres.py:3056-3057; v6.2-rc12 :2938-2939, v6.1-rc6
:2672-2673; docs/deployment_guide/references/configs_definitions/workflow.rst:117-124): the
--max-log-lines / --max-task-log-lines defaults. Time: parsed to microseconds, the rest cut off,
not rounded (pydantic 1.10.26 pydantic/datetime_parse.py:26 `(?P<microsecond>\d{1,6})\d{0,6}`;
pydantic-core the same), then written as --generation's pydantic does: 6.1/6.2 (pydantic 1.10)
datetime.isoformat() (pydantic/json.py:19-20, :48): "...05.123456+00:00"; head (pydantic 2.12.5,
HEAD src/requirements.txt:22): "...05.123456Z", a zero fraction left out, other offsets +HH:MM
(checked against pydantic 2.13.4). Not modelled: masking of the task's secrets in text (:193),
EXPIRE (MAX_LOG_TTL 20 days, connectors/redis.py :92), and approximate trimming: redis-py 7.4.0
xadd(maxlen=N) sends MAXLEN ~ N (approximate=True default, redis/commands/core.py:3874-3880,
:3943-3949), so the real stream keeps whole macro nodes and may hold somewhat more than N; this
script keeps exactly the newest N. Files below the cap are appended, a trimmed one rewritten;
all reach the disk within 0.25 s, at once on every GET /test/stats and when a socket ends.
"""
import argparse, asyncio, base64, collections, contextlib, datetime, email.message, json, os
import random, secrets, struct, time, urllib.parse
from aiohttp import web, WSMsgType

IOTYPES = {"STDOUT", "STDERR", "END_FLAG", "OSMO_CTRL", "DOWNLOAD", "UPLOAD", "LOG_DONE", "METRICS",
           "DUMP", "BARRIER"}
CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
MAX_FRAME = 16 * 1024 * 1024  # uvicorn's default ws_max_size
NOT_LOGS = ("METRICS", "LOG_DONE", "BARRIER")  # every other IOType is XADDed (ctrl_websocket.py)
CLOSE_TIMEOUT = 10  # websockets' close_timeout; aiohttp's WebSocketResponse(timeout=10.0) too
REDIS_FLUSH_S = 0.25  # DIR/redis/ is written at most this late (and at once on /test/stats)


def reply(obj, status=200):
    return web.json_response(obj, status=status, dumps=lambda o: json.dumps(
        o, ensure_ascii=False, separators=(",", ":")))


def missing(loc, value=None):
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": value}


def v1_error(loc, msg, kind):  # pydantic 1's error shape (6.1 and 6.2 pin pydantic 1.10)
    return {"loc": loc, "msg": msg, "type": kind}


def v1_missing(loc):
    return v1_error(loc, "field required", "value_error.missing")


def value_kind(value):
    if not value:
        return "none"
    return "bearer" if value[:7].lower() == "bearer " else "raw"


class Disconnect(Exception):
    """A router peer went away (or sent a text frame): the pairing ends."""


class Link:
    """A logger websocket in the paced/keepalive mode: uvicorn + websockets' legacy protocol."""

    def __init__(self):
        self.inbox = asyncio.Queue()  # messages read ahead (websockets' self.messages)
        self.room = asyncio.Event()   # set when the handler took one (_put_message_waiter)
        self.pings = {}               # payload -> (perf_counter at send, future), insertion order
        self.dropping = False


def pydantic2_time(d):
    """datetime as pydantic 2 (pydantic-core) serializes it: microseconds only when non-zero,
    UTC as "Z", other offsets as +HH:MM, naive without suffix."""
    text = d.replace(tzinfo=None).isoformat()
    offset = d.utcoffset()
    if offset is None:
        return text
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def file_name(name):  # OSMO's workflow and task names need no quoting; anything else is quoted
    name = urllib.parse.quote(name, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


class Service:
    def __init__(self, state, router_timeout, jwt_ttl, generation="head", token_headers=None,
                 bad_token_status=400, ping_interval=None, ping_timeout=None, read_pace_ms=0,
                 ws_max_queue=32, max_task_log_lines=1000, max_log_lines=10000):
        self.state, self.router_timeout, self.jwt_ttl = state, router_timeout, jwt_ttl
        self.generation, self.bad_token_status = generation, bad_token_status
        self.token_headers = token_headers or (["x-osmo-auth"] if generation == "6.1"
                                               else ["Authorization"])
        self.tokens = {}      # issued JWT -> expires_at
        self.actions = {}     # (wf, task) -> asyncio.Queue of (payload, "text"|"binary")
        self.pairs = {}       # router key -> {"ws", "connect", "close"}, like router.connections
        self.webservers = {}  # webserver key -> control websocket
        self.raw_count = 0
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.read_pace_ms, self.ws_max_queue = read_pace_ms, ws_max_queue
        self.max_task_log_lines, self.max_log_lines = max_task_log_lines, max_log_lines
        self.streams = {}  # redis key -> {"path", "file" (None once trimmed), "lines", "dirty"}
        self.stream_pairs = {}  # (wf, task, retry) -> [workflow stream, task stream]
        self.flush_handle = None
        self.stats = dict.fromkeys(["refresh_requests", "refreshes", "frames", "log_lines",
                                    "log_done", "barriers", "metrics", "connections", "errors",
                                    "router_pairs", "refresh_get", "refresh_post",
                                    "refresh_405", "pings_sent", "pongs_received",
                                    "dropped_ping_timeout", "max_pong_delay_ms"], 0)
        if not os.path.exists(self.path("refresh_token")):
            with open(self.path("refresh_token"), "w") as f:  # v6.1 task.py:2292, HEAD :2702
                f.write(secrets.token_hex(32) if generation == "6.1" else secrets.token_urlsafe(32))

    def path(self, name):
        return os.path.join(self.state, name)

    def append(self, name, obj):
        with open(self.path(name), "a") as f:
            f.write(json.dumps(obj) + "\n")

    def error(self, where, message, raw=None):
        self.stats["errors"] += 1
        self.append("errors.jsonl", {"where": where, "error": message, "raw": raw})

    # ---- auth ----------------------------------------------------------------------------------
    async def refresh_route(self, req):
        """/api/auth/jwt/refresh_token (and 6.1's /api/auth/refresh_token), every method."""
        if req.method in ("GET", "POST"):
            self.stats["refresh_" + req.method.lower()] += 1
        if req.method == "GET":
            resp = await self.refresh_get(req)
        elif req.method == "POST" and self.generation != "6.1":
            resp = await self.refresh(req)
        else:  # Starlette: path matched, method not: HTTPException(405, {"Allow": "GET"})
            self.stats["refresh_405"] += 1
            resp = reply({"detail": "Method Not Allowed"}, 405)
            resp.headers["allow"] = "GET"
        self.log_auth(req, resp.status)
        return resp

    def arg(self, q, key):  # Starlette's QueryParams keep the last of repeated keys
        return q[key] if self.generation == "head" else q.getall(key)[-1]

    def query_errors(self, q, required):
        if self.generation == "head":
            errs = [missing(["query", k]) for k in required if k not in q]
            if not q.get("retry_id", "0").lstrip("-").isdigit():
                errs.append({"type": "int_parsing", "loc": ["query", "retry_id"],
                             "input": q["retry_id"]})
            return errs
        errs = [v1_missing(["query", k]) for k in required if k not in q]
        try:
            int(self.arg(q, "retry_id") if "retry_id" in q else "0")
        except ValueError:
            errs.append(v1_error(["query", "retry_id"], "value is not a valid integer",
                                 "type_error.integer"))
        return errs

    async def refresh_get(self, req):
        """GET ?refresh_token=T: v6.1-rc6 auth_service.py:50-53, v6.2-rc12 :55-64, HEAD :57-67."""
        self.stats["refresh_requests"] += 1
        q = req.query
        errs = self.query_errors(q, ("refresh_token", "workflow_id", "group_name", "task_name"))
        if errs:
            return reply({"detail": errs}, 422)
        return self.issue(self.arg(q, "refresh_token"), q)

    async def refresh(self, req):
        """POST {"token": T}: v6.2-rc12 auth_service.py:67-74, HEAD :70-78."""
        self.stats["refresh_requests"] += 1
        q = req.query
        if self.generation != "head":
            return await self.refresh_v1(req, q)
        errs = self.query_errors(q, ("workflow_id", "group_name", "task_name"))
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
        return self.issue(body["token"], q)

    async def refresh_v1(self, req, q):
        """POST as fastapi 0.125.0 with pydantic 1.10 validates `request: TokenRequest`."""
        raw, ctype = await req.read(), req.headers.get("Content-Type")
        body = raw or None
        if raw:
            message = email.message.Message()
            message["content-type"] = ctype or ""
            if not ctype or (message.get_content_maintype() == "application" and (
                    message.get_content_subtype() == "json" or
                    message.get_content_subtype().endswith("+json"))):
                try:
                    body = json.loads(raw)
                except ValueError as e:  # raised before any other validation: alone
                    pos, msg = getattr(e, "pos", 0), getattr(e, "msg", str(e))
                    return reply({"detail": [{"type": "json_invalid", "loc": ["body", pos],
                                              "msg": "JSON decode error", "input": {},
                                              "ctx": {"error": msg}}]}, 422)
        errs, token = self.query_errors(q, ("workflow_id", "group_name", "task_name")), None
        if body is None:
            errs.append(v1_missing(["body"]))
        elif not isinstance(body, dict):
            errs.append(v1_error(["body"], "value is not a valid dict", "type_error.dict"))
        elif "token" not in body:
            errs.append(v1_missing(["body", "token"]))
        elif body["token"] is None:
            errs.append(v1_error(["body", "token"], "none is not an allowed value",
                                 "type_error.none.not_allowed"))
        elif isinstance(body["token"], (str, int, float)):  # pydantic 1 str() numbers
            token = body["token"] if isinstance(body["token"], str) else str(body["token"])
        else:
            errs.append(v1_error(["body", "token"], "str type expected", "type_error.str"))
        if errs:
            return reply({"detail": errs}, 422)
        return self.issue(token, q)

    def issue(self, token, q):
        """_create_jwt_from_refresh_token (HEAD auth_service.py:81-136); v6.1 :52-106."""
        if self.generation != "6.1" and len(token) not in (43, 64):
            return self.user_error(f"Refresh token has invalid length {len(token)}")
        status = self.task_status()
        if status:
            return reply({"detail": {"token": None, "expires_at": None, "error": status}}, 400)
        with open(self.path("refresh_token")) as f:
            if token != f.read().strip():
                return self.user_error(f"Workflow {self.arg(q, 'workflow_id')} with task "
                                       f"{self.arg(q, 'task_name')} refresh token is invalid")
        expires = int(time.time() + self.jwt_ttl)
        jwt = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                       for part in ({"alg": "RS256", "typ": "JWT"},
                                    {"exp": expires, "workflow_id": self.arg(q, "workflow_id")}))
        jwt += "." + secrets.token_urlsafe(32)
        self.tokens[jwt] = expires
        self.stats["refreshes"] += 1
        if self.generation == "head":  # response_model_exclude_none drops "error"
            return reply({"token": jwt, "expires_at": expires})
        return reply({"token": jwt, "expires_at": expires, "error": None})

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

    def user_error(self, message):
        if self.bad_token_status == 500:  # the logger app: no handler, ServerErrorMiddleware
            return web.Response(status=500, text="Internal Server Error",
                                content_type="text/plain", charset="utf-8")
        # the API service's OSMOUserError handler (HEAD core/service.py:230-244)
        return reply({"message": message, "error_code": "USER", "workflow_id": None}, 400)

    def credential(self, req):
        """(header name, value kind, JWT or None) as the generation's Envoy would extract it."""
        found = None
        for name in self.token_headers:
            value = req.headers.get(name)
            if value is None:
                continue
            if name.lower() == "authorization":
                scheme, _, token = value.partition(" ")
                token = token if scheme == "Bearer" else None
            else:
                token = value
            found = found or (name.lower(), value_kind(value))
            if token is not None and self.tokens.get(token, 0) > time.time():
                return name.lower(), value_kind(value), token
        if found:
            return found + (None,)
        for name in ("Authorization", "x-osmo-auth"):
            if name in req.headers:
                return name.lower(), value_kind(req.headers[name]), None
        return None, "none", None

    def log_auth(self, req, status, name=None, kind=None):
        if kind is None:
            name, kind, _ = self.credential(req)
        self.append("auth.jsonl", {"path": req.path, "method": req.method, "header_name": name,
                                   "header_value_kind": kind, "status": status})

    # ---- logger --------------------------------------------------------------------------------
    async def logger(self, req):
        name, kind, token = self.credential(req)
        self.log_auth(req, 401 if token is None else 101, name, kind)
        if token is None:
            return reply({"detail": "Not authenticated"}, 401)
        wf, task = req.match_info["wf"], req.match_info["task"]
        retry = req.match_info["retry"]
        stream = (wf, task, int(retry) if retry.isdigit() else retry)
        if self.ping_interval is not None or self.read_pace_ms > 0:
            return await self.logger_uvicorn(req, wf, task, stream)
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME)
        await ws.prepare(req)
        self.stats["connections"] += 1
        queue = self.actions.setdefault((wf, task), asyncio.Queue())
        sender = asyncio.create_task(self.send_actions(ws, queue))
        try:
            async for msg in ws:
                code, iotype = self.on_frame(msg, f"logger {wf}/{task}", stream)
                if code:
                    await ws.close(code=code)
                    break
                if iotype == "LOG_DONE":
                    await ws.send_str(json.dumps({"action": "log_done"}))
        finally:
            sender.cancel()
            self.flush_redis()
        return ws

    async def logger_uvicorn(self, req, wf, task, stream):
        """--ping-interval/--read-pace-ms: the logger socket as uvicorn's websockets protocol
        runs it. One reader reads ahead (answering pings, matching pongs) into a queue of at most
        --ws-max-queue messages; the handler takes one at a time, sleeping --read-pace-ms after
        each log line; a keepalive task pings and fails the link when no pong comes in time."""
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, autoping=False)
        await ws.prepare(req)
        self.stats["connections"] += 1
        link = Link()
        queue = self.actions.setdefault((wf, task), asyncio.Queue())
        sender = asyncio.create_task(self.send_actions(ws, queue))
        reader = asyncio.create_task(self.read_ahead(ws, link))
        keepalive = asyncio.create_task(self.keepalive(ws, link, reader))
        try:
            while True:
                msg = await link.inbox.get()
                link.room.set()
                if msg is None or msg.type in CLOSED:  # as `async for`, and ERROR: the last
                    break
                code, iotype = self.on_frame(msg, f"logger {wf}/{task}", stream)
                if code:
                    if link.dropping:
                        break
                    keepalive.cancel()
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    await ws.close(code=code)
                    break
                try:
                    if iotype == "LOG_DONE":
                        await ws.send_str(json.dumps({"action": "log_done"}))
                except (ConnectionError, RuntimeError):
                    break  # failed by the keepalive meanwhile
                if self.read_pace_ms > 0 and msg.type == WSMsgType.TEXT and iotype in IOTYPES \
                        and iotype not in NOT_LOGS:
                    await asyncio.sleep(self.read_pace_ms / 1000)  # two XADDs per line
        finally:
            sender.cancel()
            reader.cancel()
            if not link.dropping:
                keepalive.cancel()
            await asyncio.gather(reader, keepalive, return_exceptions=True)
            self.flush_redis()
        return ws

    async def read_ahead(self, ws, link):
        """websockets 11 legacy protocol transfer_data/read_data_frame: control frames are handled
        when read, in order with the data frames; a data message is read, then waits for room."""
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.PING:  # autoping=False: answer as read_data_frame does
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(msg.data)
                continue
            if msg.type == WSMsgType.PONG:
                self.on_pong(link, msg.data)
                continue
            while link.inbox.qsize() >= self.ws_max_queue:
                link.room.clear()
                await link.room.wait()
            link.inbox.put_nowait(msg)
            if msg.type in CLOSED:
                return

    def on_pong(self, link, data):
        """A pong acknowledges its ping and every earlier one (websockets read_data_frame)."""
        self.stats["pongs_received"] += 1
        data = bytes(data)  # aiohttp hands PONG payloads over as bytearray
        if data not in link.pings:
            return
        now = time.perf_counter()
        for key in list(link.pings):
            sent, waiter = link.pings.pop(key)
            if not waiter.done():
                waiter.set_result(None)
            self.stats["max_pong_delay_ms"] = max(self.stats["max_pong_delay_ms"],
                                                  round((now - sent) * 1000))
            if key == data:
                break

    async def keepalive(self, ws, link, reader):
        """websockets 11 legacy keepalive_ping: sleep the interval, ping, wait for the pong at
        most the timeout, again; no pong in time -> fail_connection(1011, "keepalive ping
        timeout"): reading stops, the close frame goes out, the TCP connection ends."""
        if self.ping_interval is None:
            return
        while True:
            await asyncio.sleep(self.ping_interval)
            if ws.closed:
                return
            data = None
            while data is None or data in link.pings:
                data = struct.pack("!I", random.getrandbits(32))
            waiter = asyncio.get_running_loop().create_future()
            link.pings[data] = (time.perf_counter(), waiter)
            try:
                await ws.ping(data)
            except (ConnectionError, RuntimeError):
                return
            self.stats["pings_sent"] += 1
            if self.ping_timeout is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(waiter), self.ping_timeout)
            except asyncio.TimeoutError:
                break
        self.stats["dropped_ping_timeout"] += 1
        link.dropping = True
        reader.cancel()  # transfer_data_task.cancel(): nothing more is read
        await asyncio.gather(reader, return_exceptions=True)
        link.inbox.put_nowait(None)  # the handler still gets the messages read before
        with contextlib.suppress(Exception):  # close frame, then wait close_timeout at most
            await asyncio.wait_for(ws.close(code=1011, message=b"keepalive ping timeout",
                                            drain=False), CLOSE_TIMEOUT)

    @staticmethod
    async def send_actions(ws, queue):
        while True:
            payload, frame = await queue.get()
            await (ws.send_str(payload) if frame == "text" else ws.send_bytes(payload.encode()))

    def on_frame(self, msg, where, stream=None):
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
                when = datetime.datetime.fromisoformat(low["time"])
            except (KeyError, AssertionError, TypeError, ValueError) as e:
                self.error(where, f"bad log line: {e!r}", raw)
                return 1011, iotype
            if stream is not None:
                self.xadd(stream, low, when)
        return None, iotype

    # ---- "redis" -------------------------------------------------------------------------------
    def xadd(self, stream, low, when):
        """The two XADDs of ctrl_websocket.py: LogStreamBody's five fields only (lower-cased keys,
        time re-serialized: pydantic 1 .json() for 6.1/6.2, pydantic 2 model_dump_json for head),
        to {wf}-logs (MAXLEN max_log_lines) and {wf}-{task}-{retry}-logs (max_task_log_lines)."""
        pair = self.stream_pairs.get(stream)
        if pair is None:
            pair = self.stream_pairs[stream] = self.open_streams(*stream)
        entry = json.dumps({"source": low["source"], "retry_id": stream[2],
                            "time": when.isoformat() if self.generation != "head"
                            else pydantic2_time(when),
                            "text": low.get("text", ""), "io_type": low["iotype"]},
                           ensure_ascii=False) + "\n"
        for s in pair:
            lines = s["lines"]
            if s["file"] is not None and len(lines) < lines.maxlen:
                s["file"].write(entry)  # below the cap: appended (buffered until flush_redis())
            elif s["file"] is not None:  # trimmed from now on: rewritten by flush_redis()
                s["file"].close()
                s["file"] = None
            lines.append(entry)
            s["dirty"] = s["file"] is None
        if self.flush_handle is None:
            self.flush_handle = asyncio.get_running_loop().call_later(REDIS_FLUSH_S,
                                                                      self.flush_redis)

    def open_streams(self, wf, task, retry):
        """The workflow's and the task's stream (shared by every socket of that workflow/task)."""
        task_file = file_name(task) + ("" if retry == 0 else "." + file_name(str(retry)))
        pair = []
        for key, path, cap in (
                (f"{wf}-logs", os.path.join("redis", file_name(wf) + ".jsonl"), self.max_log_lines),
                (f"{wf}-{task}-{retry}-logs", os.path.join("redis", file_name(wf),
                                                           task_file + ".jsonl"),
                 self.max_task_log_lines)):
            if key not in self.streams:
                path = self.path(path)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self.streams[key] = {"path": path, "dirty": False, "file": open(path, "w"),
                                     "lines": collections.deque(maxlen=max(cap, 0))}
            pair.append(self.streams[key])
        return pair

    def flush_redis(self):
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        for s in self.streams.values():
            if s["file"] is not None:
                s["file"].flush()
            elif s["dirty"]:
                with open(s["path"] + ".tmp", "w") as f:
                    f.writelines(s["lines"])
                os.replace(s["path"] + ".tmp", s["path"])
                s["dirty"] = False

    async def stats_route(self, req):
        self.flush_redis()  # so a test that waited on a counter reads up-to-date stream files
        return reply(self.stats)

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
        add.add_route("*", "/api/auth/jwt/refresh_token", self.refresh_route)
        if self.generation == "6.1":  # v6.1-rc6 auth_service.py:50, gone from v6.2-rc0 on
            add.add_route("*", "/api/auth/refresh_token", self.refresh_route)
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
        add.add_get("/test/stats", self.stats_route)
        return app


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state", required=True)
    p.add_argument("--router-timeout", type=float, default=60)
    p.add_argument("--jwt-ttl", type=int, default=300)
    p.add_argument("--generation", choices=("6.1", "6.2", "head"), default="head")
    p.add_argument("--token-header", action="append", default=None, metavar="NAME",
                   help="websocket JWT header (repeatable); default x-osmo-auth for 6.1, "
                        "Authorization (Bearer) for 6.2/head")
    p.add_argument("--bad-token-status", type=int, choices=(400, 500), default=400)
    p.add_argument("--ping-interval", type=float, default=None, metavar="S",
                   help="logger: ping every S s (uvicorn's ws_ping_interval; the real one: 20)")
    p.add_argument("--ping-timeout", type=float, default=None, metavar="S",
                   help="logger: fail the link with 1011 when a pong is S s late (real: 20)")
    p.add_argument("--read-pace-ms", type=float, default=0, metavar="N",
                   help="logger: sleep N ms after each log line before reading the next")
    p.add_argument("--ws-max-queue", type=int, default=32, metavar="N",
                   help="logger, with --ping-interval/--read-pace-ms: messages read ahead "
                        "(uvicorn's ws_max_queue)")
    p.add_argument("--max-task-log-lines", type=int, default=1000, metavar="N")
    p.add_argument("--max-log-lines", type=int, default=10000, metavar="N")
    a = p.parse_args()
    os.makedirs(a.state, exist_ok=True)
    service = Service(a.state, a.router_timeout, a.jwt_ttl, a.generation, a.token_header,
                      a.bad_token_status, a.ping_interval, a.ping_timeout, a.read_pace_ms,
                      max(a.ws_max_queue, 1), a.max_task_log_lines, a.max_log_lines)
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", a.port).start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
