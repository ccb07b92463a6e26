#!/usr/bin/env python3
"""Rewrites the manifest `osmo pod manifest` prints so podman 4.3.1's `kube play` runs it.

    podman_kube.py MANIFEST ROOT OUT [--file MOUNT_PATH]...

Only what podman 4.3.1 (Debian 12) cannot do is changed (issue 13 §3), nothing else:

- it ignores `subPath` (supported from 4.4): every subPath mount becomes a hostPath mount of
  ROOT/<volume>/<subPath> itself. A hostPath must exist when the pod is created, so a placeholder
  is made here: a file for the mount paths given with --file (the binaries init installs, which
  the service bind-mounts one by one) and for Secret keys, a directory otherwise.
- emptyDir volumes become host directories ROOT/empty/<volume>. The caller must empty them after
  `podman kube play --start=false` and before `podman pod start`: the placeholders would otherwise
  be there when init runs, and init takes a non-empty data directory as already initialised.
- Secrets are not podman objects here: each rendered Secret's keys are written as files under
  ROOT/secret/<secretName>/, mounted by hostPath, and the Secret documents are dropped. A Secret
  the manifest does not render is an error (give its file to `osmo pod manifest`).

Everything else (images, commands, arguments, env, readOnly, restartPolicy) is left as generated.
Host networking (to reach services on 127.0.0.1) is `podman kube play --network host`, not a
manifest change.
"""
import argparse
import base64
import os
import sys

import yaml


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("--file", action="append", default=[], help="a subPath mount that is a single file")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    with open(args.manifest) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]

    secrets = {}
    for doc in documents:
        if doc.get("kind") != "Secret":
            continue
        directory = os.path.join(root, "secret", doc["metadata"]["name"])
        os.makedirs(directory, exist_ok=True)
        for key, value in (doc.get("data") or {}).items():
            with open(os.path.join(directory, key), "wb") as f:
                f.write(base64.b64decode(value))
        secrets[doc["metadata"]["name"]] = directory
    pods = [d for d in documents if d.get("kind") == "Pod"]
    if len(pods) != 1:
        sys.exit(f"podman_kube: expected one Pod, found {len(pods)}")
    pod = pods[0]
    spec = pod["spec"]

    # Where each volume of the manifest lives on the host.
    hosts, secret_volumes = {}, set()
    for volume in spec["volumes"]:
        name = volume["name"]
        if "emptyDir" in volume:
            hosts[name] = os.path.join(root, "empty", name)
            os.makedirs(hosts[name], exist_ok=True)
        elif "secret" in volume:
            secret = volume["secret"]["secretName"]
            if secret not in secrets:
                sys.exit(f"podman_kube: Secret {secret} is not in the manifest (render it with its --…-file flag)")
            hosts[name] = secrets[secret]
            secret_volumes.add(name)
        else:
            sys.exit(f"podman_kube: volume {name}: only emptyDir and secret volumes are expected")

    volumes = []
    by_path = {}

    def host_volume(path):
        """One hostPath volume per host path (mounts of the same path share it)."""
        if path not in by_path:
            by_path[path] = f"host-{len(by_path)}"
            volumes.append({"name": by_path[path], "hostPath": {"path": path}})
        return by_path[path]

    for container in spec.get("initContainers", []) + spec["containers"]:
        for mount in container.get("volumeMounts", []):
            host = hosts[mount["name"]]
            sub = mount.pop("subPath", None)
            if sub is not None:
                host = os.path.join(host, sub)
                if mount["name"] in secret_volumes:
                    if not os.path.isfile(host):
                        sys.exit(f"podman_kube: {mount['mountPath']}: key {sub} is not in its Secret")
                elif mount["mountPath"] in args.file:
                    os.makedirs(os.path.dirname(host), exist_ok=True)
                    open(host, "a").close()
                else:
                    os.makedirs(host, exist_ok=True)
            mount["name"] = host_volume(host)
    spec["volumes"] = volumes

    with open(args.out, "w") as f:
        f.write("# podman 4.3.1 rewrite of " + os.path.basename(args.manifest) + " (Tests/Servers/podman_kube.py)\n")
        yaml.safe_dump(pod, f, sort_keys=False)


if __name__ == "__main__":
    main()
