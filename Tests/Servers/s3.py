#!/usr/bin/env python3
"""S3-compatible server (moto) with SigV4 signature checking, for osmo's S3 integration tests.

Usage: s3.py [--port 0] --ready-file F [--bucket NAME ...] [--log FILE] [--requests FILE]
             [--dns-name NAME] [--region R ...]

Runs moto's ThreadedMotoServer on 127.0.0.1 in this process. Setup (IAM user with an inline
policy allowing s3:* on *, one access key, the buckets; default one bucket `osmo-test`) is done
with boto3 while moto still lets unauthenticated calls through: INITIAL_NO_AUTH_ACTION_COUNT is
set to exactly the number of setup calls (3 + number of buckets), so every later request must
carry a valid SigV4 signature for that access key (a wrong secret gets 403 SignatureDoesNotMatch,
an unknown key id 403 InvalidAccessKeyId). The script checks this itself before reporting ready.

When ready, writes (temp file + rename) and prints on stdout one JSON line:
  {"port": P, "endpoint": "http://127.0.0.1:P", "access_key_id": "...",
   "secret_access_key": "...", "region": "us-east-1", "regions": ["us-east-1"],
   "buckets": ["osmo-test"], "named_endpoint": "http://NAME:P" (with --dns-name)}
Runs until SIGTERM/SIGINT, then stops the server and exits 0. Exits non-zero if setup fails.

S3 requests are authenticated by this script's own SigV4 check (patched into moto 5.x), because
moto's is not faithful: it rebuilds the canonical request from werkzeug's `request.url`, an IRI
(UTF-8 decoded, %2F/%3D... in the query decoded, ( ) ! ' * %25 changed), so it rejects correctly
signed requests, boto3's included, for keys like `données/é.txt` or any `prefix=a/b`; and it
silently leaves `expect`, `user-agent`, `transfer-encoding`... out of the signed headers. Here:
- Canonical URI and query come from the raw request target: each path segment and query
  key/value is percent-decoded and re-encoded keeping only A-Z a-z 0-9 - _ . ~, pairs sorted.
  Signing something other than that (`%2520` for a `%20` sent, `+` for a space, an unsorted
  query) gets 403 SignatureDoesNotMatch.
- Exactly the headers named in SignedHeaders are signed, values trimmed and inner spaces folded.
  One named there but absent from the request gets 403 SignatureDoesNotMatch, whose message
  names it. `host` and every x-amz-* header sent must be signed (else 403 AccessDenied);
  x-amz-content-sha256 is required (else 400 InvalidRequest); the credential scope must be
  <x-amz-date day>/<region>/s3/aws4_request with <region> one of --region (default us-east-1;
  else 400 AuthorizationHeaderMalformed or 403).
- A hex x-amz-content-sha256 must be the SHA-256 of the body received, else 400
  XAmzContentSHA256Mismatch (UNSIGNED-PAYLOAD and STREAMING-* are not checked).
- No Authorization header: 403 AccessDenied (moto: 500). Presigned URLs are not supported.
With --log FILE, each rejected signature is logged with the server's canonical request and
string to sign.

Addressing. Requests to 127.0.0.1:P are path-style (/bucket/key). With --dns-name NAME (e.g.
s3.osmo.test, which resolves nowhere: the client maps it to 127.0.0.1 itself, libcurl's
CURLOPT_RESOLVE), Host NAME:P is path-style too and Host BUCKET.NAME:P is virtual-hosted
(/key in bucket BUCKET): moto's MOTO_S3_CUSTOM_ENDPOINTS, set to http://NAME:P once the port is
known. Any other Host with a dot is read by moto as virtual-hosted (its first label the bucket).
With --requests FILE, every request is appended to FILE as one JSON line when its answer is
sent, so a test can see which form arrived:
  {"method": "GET", "host": "osmo-test.s3.osmo.test:P", "target": "/key?x=1",
   "region": "us-east-1" (the signature's credential scope; null if unsigned), "status": 200}
"""
import argparse, json, os, signal, sys, threading

DEFAULT_BUCKET = "osmo-test"
REGION = "us-east-1"
USER = "osmo-test"
POLICY = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one")
    p.add_argument("--ready-file", required=True, help="where to write the connection JSON")
    p.add_argument("--bucket", action="append", dest="buckets", metavar="NAME",
                   help=f"bucket to create (repeatable; default {DEFAULT_BUCKET})")
    p.add_argument("--log", metavar="FILE",
                   help="append request lines and signature mismatch details to FILE")
    p.add_argument("--requests", metavar="FILE",
                   help="append one JSON line per request (method, host, target, region, status)")
    p.add_argument("--dns-name", metavar="NAME",
                   help="a host name of this server: NAME:P path-style, BUCKET.NAME:P virtual-hosted")
    p.add_argument("--region", action="append", dest="regions", metavar="R",
                   help=f"a signing region accepted in the credential scope (repeatable; default {REGION})")
    a = p.parse_args()
    a.buckets = a.buckets or [DEFAULT_BUCKET]
    a.regions = a.regions or [REGION]
    return a


args = parse_args()
# Setup calls, each counted once by moto: iam CreateUser, PutUserPolicy, CreateAccessKey, and
# one s3 CreateBucket per bucket. Must be in the environment before moto is imported.
NO_AUTH_ACTIONS = 3 + len(args.buckets)
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_ACTIONS)

import hashlib, hmac, logging, re                                # noqa: E402
import urllib.parse                                              # noqa: E402
import boto3, botocore.config, botocore.exceptions               # noqa: E402
import werkzeug.serving                                          # noqa: E402
from moto import settings                                        # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin     # noqa: E402
from moto.iam import access_control                              # noqa: E402
from moto.s3.exceptions import S3AccessDeniedError, S3ClientError  # noqa: E402
from moto.server import ThreadedMotoServer                       # noqa: E402

log = logging.getLogger("s3.py")
_raw = threading.local()  # raw request target of the request this server thread is handling


def s3_error(code, message):
    """An S3 error; moto gives known codes their S3 status (403 for AccessDenied and
    SignatureDoesNotMatch), others 400."""
    return S3ClientError(code, message)


def _enc(s):
    # http.server decodes the request line as Latin-1: get the bytes back before unquoting.
    return urllib.parse.quote(urllib.parse.unquote_to_bytes(s.encode("latin-1")), safe="-_.~")


def aws_canonical_target(target):
    """SigV4 canonical URI and query string (S3 flavour: no dot-segment normalization)."""
    path, _, query = target.partition("?")
    if "://" in path:  # absolute-form request target
        path = urllib.parse.urlsplit(path).path or "/"
    path = "/".join(_enc(seg) for seg in path.split("/"))
    pairs = sorted((_enc(k), _enc(v)) for k, _, v in
                   (item.partition("=") for item in query.split("&") if item))
    return path, "&".join(f"{k}={v}" for k, v in pairs)


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def verify_s3_sigv4(method, target, headers, secret):
    """Check an Authorization-header SigV4 request the way S3 does; raise an S3 error if not."""
    algorithm, _, rest = headers["Authorization"].strip().partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    cred = fields.get("Credential", "").split("/")
    declared = [h.strip().lower() for h in fields.get("SignedHeaders", "").split(";") if h.strip()]
    if (algorithm != "AWS4-HMAC-SHA256" or len(cred) != 5 or cred[4] != "aws4_request"
            or not declared or "Signature" not in fields):
        raise s3_error("AuthorizationHeaderMalformed",
                       "The authorization header is malformed: " + headers["Authorization"])
    _, day, region, service, _ = cred
    if region not in args.regions:
        raise s3_error("AuthorizationHeaderMalformed", "The authorization header is malformed; "
                       f"the region '{region}' is wrong; expecting '{args.regions[0]}'")
    amz_date = headers.get("X-Amz-Date") or ""
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != day or service != "s3":
        raise s3_error("AccessDenied", "AWS authentication requires a valid x-amz-date header "
                       "matching the credential scope date, and service 's3'")
    payload = headers.get("X-Amz-Content-SHA256")
    if payload is None:
        raise s3_error("InvalidRequest",
                       "Missing required header for this request: x-amz-content-sha256")
    present = {k.lower() for k in headers.keys()}
    unsigned = sorted(h for h in present
                      if (h == "host" or h.startswith("x-amz-")) and h not in declared)
    if unsigned:
        raise s3_error("AccessDenied", "There were headers present in the request which were "
                       "not signed: " + ", ".join(unsigned))
    missing = [h for h in declared if h not in present]
    canonical_path, canonical_query = aws_canonical_target(target)
    canonical = "\n".join([
        method, canonical_path, canonical_query,
        "".join(f"{h}:{' '.join((headers.get(h) or '').split())}\n" for h in sorted(declared)),
        ";".join(sorted(declared)), payload])
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode("utf-8"), day), region), service),
                "aws4_request")
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if missing or not hmac.compare_digest(expected, fields["Signature"].strip()):
        note = (f"signed header(s) {', '.join(missing)} not present in the request"
                if missing else "signature differs")
        log.warning("SignatureDoesNotMatch (%s) %s %s\n  Authorization: %s\n"
                    "  CanonicalRequest:\n    %s\n  StringToSign:\n    %s", note, method, target,
                    headers["Authorization"], canonical.replace("\n", "\n    "),
                    string_to_sign.replace("\n", "\n    "))
        raise s3_error("SignatureDoesNotMatch", "The request signature we calculated does not "
                       "match the signature you provided. Check your key and signing method."
                       + (f" (Signed header(s) not in the request: {', '.join(missing)}.)"
                          if missing else ""))


def check_payload_hash(headers, body):
    """Like S3: a hex x-amz-content-sha256 must be the SHA-256 of the body actually received."""
    claimed = (headers.get("X-Amz-Content-SHA256") or "").strip().lower()
    if re.fullmatch("[0-9a-f]{64}", claimed):
        body = body.encode("utf-8") if isinstance(body, str) else body
        if hashlib.sha256(body or b"").hexdigest() != claimed:
            raise s3_error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                           "header does not match what was computed.")


_requests_lock = threading.Lock()


def signing_region(authorization):
    """The region of a SigV4 Authorization header's credential scope, or None."""
    match = re.search(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/", authorization or "")
    return match.group(1) if match else None


def patch_request_log(path):
    """--requests FILE: one JSON line per answered request (werkzeug calls log_request then)."""
    log_request = werkzeug.serving.WSGIRequestHandler.log_request

    def log_request_json(self, code="-", size="-"):
        log_request(self, code, size)
        headers = getattr(self, "headers", None)
        entry = {"method": getattr(self, "command", None), "host": headers.get("Host") if headers else None,
                 "target": getattr(self, "path", None),
                 "region": signing_region(headers.get("Authorization") if headers else None),
                 "status": int(code) if str(code).isdigit() else None}
        with _requests_lock, open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    werkzeug.serving.WSGIRequestHandler.log_request = log_request_json


def patch_moto():
    """Make moto's S3 request authentication behave like S3's (see the module docstring)."""
    make_environ = werkzeug.serving.WSGIRequestHandler.make_environ

    def make_environ_keep_raw(self):
        env = make_environ(self)
        _raw.target = self.path  # request target exactly as received, still percent-encoded
        return env

    init = access_control.S3IAMRequest.__init__

    def s3_request_init(self, account_id, method, path, data, body, headers, action):
        if "Authorization" not in headers:
            raise S3AccessDeniedError()  # moto itself would fail with KeyError (HTTP 500)
        init(self, account_id, method, path, data, body, headers, action)

    def check_signature(self):
        verify_s3_sigv4(self._method, _raw.target, self._headers,
                        self._access_key.create_credentials().secret_key)
        check_payload_hash(self._headers, self._body)

    werkzeug.serving.WSGIRequestHandler.make_environ = make_environ_keep_raw
    access_control.S3IAMRequest.__init__ = s3_request_init
    access_control.S3IAMRequest.check_signature = check_signature


def configure_logging(path):
    """Request lines (werkzeug) and signature mismatches go to --log FILE, else nowhere."""
    werkzeug.serving._log_add_style = False  # no ANSI colours in the log file
    handler = logging.FileHandler(path, encoding="utf-8") if path else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    for logger in (logging.getLogger("werkzeug"), log):
        logger.propagate = False
        logger.handlers.clear()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if path else logging.CRITICAL)


def client(service, endpoint, key_id, secret, region=REGION):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def setup(endpoint, buckets):
    # Credentials for the unauthenticated setup calls are never checked (moto counts them).
    iam = client("iam", endpoint, "setup", "setup")
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="s3-all", PolicyDocument=json.dumps(POLICY))
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    s3 = client("s3", endpoint, "setup", "setup")
    for b in buckets:
        s3.create_bucket(Bucket=b)
    if ActionAuthenticatorMixin.request_count != NO_AUTH_ACTIONS:
        raise SystemExit(f"s3.py: setup made {ActionAuthenticatorMixin.request_count} "
                         f"unauthenticated calls, expected {NO_AUTH_ACTIONS}")
    return key["AccessKeyId"], key["SecretAccessKey"]


def self_check(endpoint, key_id, secret, bucket):
    """Good credentials must work, a wrong secret must get 403."""
    region = args.regions[0]
    client("s3", endpoint, key_id, secret, region).list_objects_v2(Bucket=bucket, Prefix="x/y é+(1)")
    log.info("s3.py self-check: the next request has a wrong secret and must be rejected")
    try:
        client("s3", endpoint, key_id, secret + "x", region).list_objects_v2(Bucket=bucket)
    except botocore.exceptions.ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if status != 403:
            raise SystemExit(f"s3.py: wrong secret got HTTP {status}, expected 403")
    else:
        raise SystemExit("s3.py: a request with a wrong secret was accepted")
    log.info("s3.py self-check passed; ready")


def write_ready(path, info):
    data = json.dumps(info)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data + "\n")
    os.replace(tmp, path)
    print(data, flush=True)


def main():
    configure_logging(args.log)
    patch_moto()
    if args.requests:
        patch_request_log(args.requests)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    # Port 0 is handed to the server itself (it binds and we read the port back), so there is
    # no window in which another process could take a port we probed and released.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    try:
        port = server.get_host_and_port()[1]
        endpoint = f"http://127.0.0.1:{port}"
        named = f"http://{args.dns_name}:{port}" if args.dns_name else None
        if named:
            # Read by moto on every request: Host NAME:P is path-style, BUCKET.NAME:P not.
            os.environ["MOTO_S3_CUSTOM_ENDPOINTS"] = named
        key_id, secret = setup(endpoint, args.buckets)
        assert settings.INITIAL_NO_AUTH_ACTION_COUNT == NO_AUTH_ACTIONS
        self_check(endpoint, key_id, secret, args.buckets[0])
        info = {"port": port, "endpoint": endpoint, "access_key_id": key_id,
                "secret_access_key": secret, "region": REGION, "regions": args.regions,
                "buckets": args.buckets}
        if named:
            info["named_endpoint"] = named
        write_ready(args.ready_file, info)
        while not stop.wait(3600):
            pass
    finally:
        server.stop()
    # Tearing down moto's module state takes seconds; nothing is left to flush or clean up.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
