"""module_utils/_docker_archive.py: the images of a `docker save` archive, in the layouts Docker writes.

The legacy layout is the one Docker 20.10 wrote here for the test-host image (`docker save | tar -t`:
<layer>/layer.tar, <config-hex>.json, manifest.json, repositories); Docker 25+ writes an OCI layout whose
manifest.json names blobs/sha256/<hex>. The system test (tests/system/test_container_mode.py) reads a
real archive of the vLLM image.
"""

import hashlib
import io
import json
import tarfile

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._docker_archive import (
    ArchiveError, holds, normalize_reference, read_images)

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/sbin/init"]}}).encode()
CONFIG_HEX = hashlib.sha256(CONFIG).hexdigest()


def make_archive(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def manifest(config_name, tags):
    return json.dumps([{"Config": config_name, "RepoTags": tags, "Layers": ["abc/layer.tar"]}]).encode()


def test_legacy_layout(tmp_path):
    path = make_archive(tmp_path / "a.tar", {
        "%s.json" % CONFIG_HEX: CONFIG,
        "manifest.json": manifest("%s.json" % CONFIG_HEX, ["llmops-vllm/testhost:bookworm"]),
    })
    assert read_images(path) == [{"id": "sha256:" + CONFIG_HEX, "tags": ["llmops-vllm/testhost:bookworm"]}]


def test_oci_layout_and_untagged_images(tmp_path):
    path = make_archive(tmp_path / "b.tar", {
        "blobs/sha256/" + CONFIG_HEX: CONFIG,
        "manifest.json": json.dumps([{"Config": "blobs/sha256/" + CONFIG_HEX, "RepoTags": None, "Layers": []}]).encode(),
    })
    assert read_images(path) == [{"id": "sha256:" + CONFIG_HEX, "tags": []}]


def test_the_id_is_the_configs_digest_not_its_name(tmp_path):
    """A config whose content does not match its name gets the content's digest (what Docker loads)."""
    path = make_archive(tmp_path / "c.tar", {"0" * 64 + ".json": CONFIG, "manifest.json": manifest("0" * 64 + ".json", [])})
    assert read_images(path)[0]["id"] == "sha256:" + CONFIG_HEX


@pytest.mark.parametrize("members, message", [
    ({"x": b"1"}, "has no manifest.json"),
    ({"manifest.json": b"{not json"}, "not JSON"),
    ({"manifest.json": b"[]"}, "lists no image"),
    ({"manifest.json": b'[{"RepoTags": []}]'}, "has no Config"),
    ({"manifest.json": manifest("missing.json", [])}, "has no missing.json"),
])
def test_what_is_not_an_archive_is_refused(tmp_path, members, message):
    with pytest.raises(ArchiveError, match=message):
        read_images(make_archive(tmp_path / "d.tar", members))


def test_a_file_that_is_no_tar_is_refused(tmp_path):
    (tmp_path / "e.tar").write_text("hello")
    with pytest.raises(ArchiveError, match="not a readable docker save archive"):
        read_images(str(tmp_path / "e.tar"))


@pytest.mark.parametrize("ref, normalized", [
    ("vllm/vllm-openai-cpu:v0.33.0", "vllm/vllm-openai-cpu:v0.33.0"),
    ("docker.io/vllm/vllm-openai-cpu:v0.33.0", "vllm/vllm-openai-cpu:v0.33.0"),
    ("docker.io/library/debian", "debian:latest"),
    ("registry.local:5000/vllm/vllm-openai", "registry.local:5000/vllm/vllm-openai:latest"),
    ("registry.local:5000/vllm/vllm-openai:v1", "registry.local:5000/vllm/vllm-openai:v1"),
])
def test_references_compare_as_docker_writes_them(ref, normalized):
    assert normalize_reference(ref) == normalized


def test_holds():
    images = [{"id": "sha256:" + CONFIG_HEX, "tags": ["vllm/vllm-openai-cpu:v0.33.0", "debian:latest"]}]
    assert holds(images, "docker.io/vllm/vllm-openai-cpu:v0.33.0")
    assert holds(images, "debian")
    assert not holds(images, "vllm/vllm-openai-cpu:v0.32.0")
