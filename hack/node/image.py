#!/usr/bin/env python3
"""Packs a directory into a one-layer container image archive, without Docker.

The real node of the local cluster needs a few tiny images (the pod sandbox's
pause, CoreDNS, the local-path provisioner and its busybox helper) and no
registry can be reached to pull them. This writes the `docker save` archive
format (manifest.json, the config and one layer), which
`ctr -n k8s.io images import` loads into the node's containerd.

    image.py ROOTFS OUT.tar --tag bgjobs/pause:3.10 --entrypoint /pause

Files are stored owned by root, with their modes, and with a fixed mtime so
that the same inputs give the same image ID.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path

MTIME = 0


def _layer(rootfs: Path) -> bytes:
    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = MTIME
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False, filter=normalise)
    return buf.getvalue()


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = MTIME
    tar.addfile(info, io.BytesIO(data))


# The machine's architecture in the OCI spelling: the binaries packed are
# built here, for this machine.
_OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
             "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip


def _architecture() -> str:
    machine = platform.machine()
    if machine not in _OCI_ARCH:
        raise SystemExit(f"image.py: unknown machine architecture {machine!r}")
    return _OCI_ARCH[machine]


def pack(
    rootfs: Path,
    out: Path,
    *,
    tag: str,
    entrypoint: list[str],
    cmd: list[str],
    user: str,
    env: list[str],
) -> str:
    layer = _layer(rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": _architecture(),
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Cmd": cmd or None, "User": user, "Env": env},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "hack/node/image.py", "comment": tag}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _member(tar, layer_name, layer)
        _member(tar, config_name, config_bytes)
        _member(tar, "manifest.json", json.dumps(manifest).encode())
    tmp.replace(out)
    return config_name.removesuffix(".json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rootfs", type=Path, help="directory that becomes the image's filesystem")
    parser.add_argument("out", type=Path, help="archive to write")
    parser.add_argument("--tag", required=True, help="image reference, e.g. bgjobs/pause:3.10")
    parser.add_argument("--entrypoint", nargs="+", required=True, help="entrypoint argv")
    parser.add_argument("--cmd", nargs="*", default=[], help="default arguments")
    parser.add_argument("--user", default="", help="user[:group] to run as (default root)")
    parser.add_argument("--env", action="append", default=[], help="NAME=value (repeatable)")
    args = parser.parse_args()
    if not args.rootfs.is_dir():
        parser.error(f"rootfs: {args.rootfs} is not a directory")
    image_id = pack(
        args.rootfs,
        args.out,
        tag=args.tag,
        entrypoint=args.entrypoint,
        cmd=args.cmd,
        user=args.user,
        env=args.env or ["PATH=/usr/local/bin:/usr/bin:/bin"],
    )
    print(f"{args.tag} {image_id[:12]} -> {args.out}")


if __name__ == "__main__":
    main()
