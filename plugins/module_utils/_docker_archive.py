# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a `docker save` archive holds: its images' IDs and tags, read from manifest.json.

Container mode on a host without a registry loads the image from such an archive pushed from the
controller; the instance model reads it here, and comparing these IDs with the host's images decides
whether to push it at all.
"""

from __future__ import annotations

import hashlib
import json
import tarfile


class ArchiveError(ValueError):
    pass


def read_images(path):
    """[{"id": "sha256:<hex>", "tags": ["repo:tag", ...]}] of a `docker save` archive (both the legacy
    layout and Docker 25's OCI layout keep a manifest.json naming each image's config file; the image
    ID is the SHA-256 of that file)."""
    try:
        with tarfile.open(path) as tar:
            manifest = _member_bytes(tar, "manifest.json")
            try:
                entries = json.loads(manifest)
            except ValueError as exc:
                raise ArchiveError("%s: manifest.json is not JSON (%s)" % (path, exc)) from exc
            if not isinstance(entries, list) or not entries:
                raise ArchiveError("%s: manifest.json lists no image" % path)
            images = []
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
                    raise ArchiveError("%s: a manifest.json entry has no Config" % path)
                config = _member_bytes(tar, entry["Config"])
                images.append({"id": "sha256:" + hashlib.sha256(config).hexdigest(),
                               "tags": [str(tag) for tag in entry.get("RepoTags") or []]})
            return images
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError("%s is not a readable docker save archive (%s)" % (path, exc)) from exc


def _member_bytes(tar, name):
    try:
        member = tar.getmember(name)
    except KeyError as exc:
        raise ArchiveError("%s has no %s: not a docker save archive" % (tar.name, name)) from exc
    handle = tar.extractfile(member)
    if handle is None:
        raise ArchiveError("%s: %s is not a file" % (tar.name, name))
    return handle.read()


def normalize_reference(ref):
    """An image reference as `docker save` writes it in RepoTags: no docker.io/ or library/ prefix, and
    :latest when no tag is given."""
    ref = ref.strip()
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            if ref.startswith("library/"):
                ref = ref[len("library/"):]
            break
    if "@" not in ref and ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def holds(images, ref):
    """Whether one of the images is tagged `ref`."""
    wanted = normalize_reference(ref)
    return any(normalize_reference(tag) == wanted for image in images for tag in image["tags"])
