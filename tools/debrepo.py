#!/usr/bin/env python3
"""Build a signed local apt repository for hosts without network (llmops.vllm.apt_local_repo).

    tools/debrepo.py OUT_DIR [PACKAGE ...]

Resolves the packages and their whole dependency closure against a Debian/Ubuntu release as if the
host had nothing installed (an empty dpkg status, so it fits any host of that release), downloads
them with the controller's apt into a private apt root (the controller's own apt state is not
touched, no root needed), writes a flat repository index and signs it with a key kept in
--key-dir. OUT_DIR then holds what the role pushes:
  repo.tar          the .debs, Packages, Release, InRelease (signed)
  signing-key.gpg   the public key apt checks InRelease against (signed-by=)
  packages.txt      the requested packages, one per line
Needs apt-get, dpkg-deb and gpg (a Debian or Ubuntu machine) and the release's archive keyring.
Cached: nothing is rebuilt while the inputs (release, mirror, packages, this file) are unchanged.
Without arguments the packages are the CPU path's (uv_python + vllm_cpu_build on Debian 12).
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# uv_python's prerequisites, vllm_cpu_build's run-time packages, python3-apt for Ansible's apt module,
# vllm_service's firewall, rsync for a pushed wheelhouse.
CPU_PATH_PACKAGES = [
    "python3", "python3-venv", "python3-packaging", "ca-certificates", "tar", "gzip",
    "libnuma1", "gcc", "g++", "python3-dev", "libtcmalloc-minimal4", "python3-apt",
    "nftables",  # vllm_service_allowed_clients (the servers' host firewall)
    "rsync",  # vllm_cpu_build_wheelhouse_src pushed with synchronize (ssh connections)
]
KEY_UID = "llmops.vllm local apt repository"


def sha(path, algo):
    digest = hashlib.new(algo)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def apt_options(root, arch):
    return [
        "-o", "Dir::State=%s/state" % root, "-o", "Dir::State::status=%s/state/status" % root,
        "-o", "Dir::Cache=%s/cache" % root, "-o", "Dir::Etc::SourceList=%s/sources.list" % root,
        "-o", "Dir::Etc::SourceParts=-", "-o", "Dir::Etc::Preferences=%s/preferences" % root,
        "-o", "Dir::Etc::PreferencesParts=%s/preferences.d" % root,
        "-o", "APT::Architecture=%s" % arch, "-o", "APT::Architectures=%s" % arch,
        "-o", "Acquire::Languages=none", "-o", "APT::Install-Recommends=false",
        "-o", "Debug::NoLocking=true", "-o", "APT::Sandbox::User=root",
    ]


def download(packages, args, root):
    for sub in ("state/lists/partial", "cache/archives/partial", "preferences.d"):
        (root / sub).mkdir(parents=True)
    (root / "state/status").write_text("")
    suites = [args.suite] + ["%s-%s" % (args.suite, extra) for extra in args.pockets]
    (root / "sources.list").write_text("".join(
        "deb [signed-by=%s] %s %s %s\n" % (args.keyring, args.mirror, suite, " ".join(args.components))
        for suite in suites))
    opts = apt_options(root, args.arch)
    subprocess.run(["apt-get", *opts, "-qq", "update"], check=True)
    subprocess.run(["apt-get", *opts, "-qq", "-y", "--download-only", "install", *packages], check=True)
    return sorted((root / "cache/archives").glob("*.deb"))


def stanza(deb):
    """The .deb's control stanza plus what apt needs to fetch and check it from a flat repository."""
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
    return control.rstrip("\n") + "\nFilename: ./%s\nSize: %d\nMD5sum: %s\nSHA256: %s\n" % (
        deb.name, deb.stat().st_size, sha(deb, "md5"), sha(deb, "sha256"))


def release(repo, arch):
    lines = ["Origin: llmops.vllm", "Label: llmops.vllm local", "Suite: local", "Codename: local",
             "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
             "Architectures: %s" % arch, "Description: %s" % KEY_UID]
    for field, algo in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        lines.append(field + ":")
        for name in ("Packages", "Packages.gz"):
            lines.append(" %s %d %s" % (sha(repo / name, algo), (repo / name).stat().st_size, name))
    return "\n".join(lines) + "\n"


def gpg(key_dir, *argv, **kwargs):
    return subprocess.run(["gpg", "--batch", "--quiet", "--homedir", str(key_dir), *argv], check=True, **kwargs)


def ensure_key(key_dir):
    key_dir.mkdir(parents=True, exist_ok=True)
    key_dir.chmod(0o700)
    listed = gpg(key_dir, "--list-secret-keys", "--with-colons", capture_output=True, text=True).stdout
    if "sec:" not in listed:
        gpg(key_dir, "--passphrase", "", "--quick-gen-key", KEY_UID, "ed25519", "sign", "never")


def build(packages, args, out):
    with tempfile.TemporaryDirectory(prefix="debrepo.") as tmp:
        tmp = Path(tmp)
        debs = download(packages, args, tmp / "apt")
        repo = tmp / "repo"
        repo.mkdir()
        for deb in debs:
            shutil.copy2(deb, repo / deb.name)
        index = "\n".join(stanza(repo / deb.name) for deb in debs)
        (repo / "Packages").write_text(index)
        with gzip.GzipFile(repo / "Packages.gz", "wb", mtime=0) as handle:
            handle.write(index.encode())
        (repo / "Release").write_text(release(repo, args.arch))
        ensure_key(args.key_dir)
        gpg(args.key_dir, "--yes", "--clearsign", "--output", str(repo / "InRelease"), str(repo / "Release"))
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "signing-key.gpg", "wb") as handle:
            gpg(args.key_dir, "--export", stdout=handle)
        # Sorted, owner-less and with fixed times: the same inputs give the same tarball.
        with tarfile.open(out / "repo.tar.partial", "w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(repo.iterdir()):
                info = tar.gettarinfo(str(path), arcname=path.name)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mode = 0o644
                info.mtime = 0
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
        os.replace(out / "repo.tar.partial", out / "repo.tar")
        (out / "packages.txt").write_text("".join(p + "\n" for p in packages))
        return len(debs), (out / "repo.tar").stat().st_size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("packages", nargs="*")
    parser.add_argument("--suite", default=os.environ.get("DEBREPO_SUITE", "bookworm"))
    parser.add_argument("--mirror", default=os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian"))
    parser.add_argument("--pockets", nargs="*", default=["updates"], help="suite-<pocket> added (default: updates)")
    parser.add_argument("--components", nargs="*", default=["main"])
    parser.add_argument("--keyring", default="/usr/share/keyrings/debian-archive-keyring.gpg")
    parser.add_argument("--arch", default=None, help="default: the controller's (dpkg --print-architecture)")
    parser.add_argument("--key-dir", type=Path, default=Path(os.environ.get(
        "LLMOPS_CACHE", Path.home() / ".cache/llmops-vllm")) / "debrepo-gpg",
        help="the signing key's GnuPG home (created with a new key when empty)")
    args = parser.parse_args(argv)
    args.arch = args.arch or subprocess.run(["dpkg", "--print-architecture"], check=True,
                                            capture_output=True, text=True).stdout.strip()
    packages = args.packages or CPU_PATH_PACKAGES
    inputs = json.dumps([args.suite, args.mirror, args.pockets, args.components, args.arch, packages,
                         sha(__file__, "sha256")])
    stamp = args.out / "inputs.json"
    if stamp.is_file() and stamp.read_text() == inputs and (args.out / "repo.tar").is_file():
        print("local apt repository is current: %s" % args.out, file=sys.stderr)
        return 0
    count, size = build(packages, args, args.out)
    stamp.write_text(inputs)
    print("local apt repository: %d packages, %.0f MiB in %s" % (count, size / 2**20, args.out / "repo.tar"),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
