#!/usr/bin/env python3
"""A TLS-terminating TCP proxy for the tests, in front of a service on 127.0.0.1.

Makes a CA and a server certificate (openssl) whose subjectAltName is --san (default
IP:127.0.0.1,IP:::1,DNS:localhost), listens on 127.0.0.1:PORT and pipes each connection's bytes
to BACKEND_PORT in clear. A connection whose first byte is not a TLS handshake record (0x16) is
piped as it is, so one port serves `https://` token refreshes and `ws://` alike and a test can
choose which of ctrl's two clients (libcurl, NIOSSL) meets the certificate.
Prints "ready PORT" when it accepts connections.

  tls_proxy.py --dir D --backend-port N [--port 0] [--san SAN]
  D/ca.pem is the CA a client must trust.
"""
import argparse, os, socket, ssl, subprocess, sys, threading


def make_certificates(d, san):
    ca_key, ca, key, csr, cert = (os.path.join(d, n) for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=osmo test CA",
        "-keyout", ca_key, "-out", ca)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=osmo test service", "-keyout", key, "-out", csr)
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
        "-extfile", ext, "-out", cert)
    return cert, key


def pipe(source, target):
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            if isinstance(target, ssl.SSLSocket):
                target.close()
            else:
                target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, context, backend_port):
    try:
        client.settimeout(10)
        first = client.recv(1, socket.MSG_PEEK)
        if first == b"\x16":
            client = context.wrap_socket(client, server_side=True)
        client.settimeout(None)
        backend = socket.create_connection(("127.0.0.1", backend_port))
    except (OSError, ssl.SSLError):
        client.close()
        return
    back = threading.Thread(target=pipe, args=(backend, client), daemon=True)
    back.start()
    pipe(client, backend)
    back.join()
    for s in (client, backend):
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--backend-port", type=int, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--san", default="IP:127.0.0.1,IP:::1,DNS:localhost")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cert, key = make_certificates(a.dir, a.san)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    listener = socket.create_server(("127.0.0.1", a.port))
    print("ready", listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, context, a.backend_port), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
