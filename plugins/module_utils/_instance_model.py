# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vllm_service role's model of its server instances: the one place that validates them and
derives everything the tasks and templates use (paths, URL, argv, container spec, environment).

Pure Python (no Ansible imports), so it is unit-tested table-driven. The action plugin
``vllm_service_model`` feeds it the role's variables; tasks and templates only read its result.
Every value that ends up in a unit, an env file, a path or a container spec is checked here, so a
template adds no unchecked interpolation.
"""

from __future__ import annotations

import ipaddress
import json
import os
import posixpath
import re
import ssl

from ansible_collections.llmops.vllm.plugins.module_utils._docker_archive import ArchiveError, holds, read_images
from ansible_collections.llmops.vllm.plugins.module_utils._multinode import MultinodeError, plan as multinode_plan
from ansible_collections.llmops.vllm.plugins.module_utils._firewall import FirewallError, check_clients, names as client_names
from ansible_collections.llmops.vllm.plugins.module_utils._vllm_env import vllm_environment

# Keys an instance of vllm_service_instances may set: each mirrors the role variable
# vllm_service_<key>, which is its default. Adding an instance key = one entry here (its kind and
# check) + its argument-spec entry; everything else reads the resolved instance.
INSTANCE_KEYS = {
    "name": "name",
    "port": "port",
    "host": "host",
    "model": "model",
    "model_src": "text",
    "served_model_name": "text",
    "extra_args": "args",
    "cuda_visible_devices": "gpu_ids",
    "cpus": "cpus",
    "cpu_kvcache_space_gib": "positive",
    "environment": "env",
    "state_dir": "dir",
    "container_name": "container_name",
    "api_key": "secret",
    "shutdown_timeout": "seconds",
    "tls_cert_src": "controller_file",
    "tls_key_src": "controller_file",
    "tls_ca_src": "controller_file",
}
# Derived from the instance's name unless the instance sets them.
PER_NAME_KEYS = ("state_dir", "container_name")

# Role-level settings the model reads besides the instance keys (vllm_service_<name>).
ROLE_SETTINGS = (
    "instances", "mode", "device", "user", "group", "command", "venv_path", "ld_preload",
    "cpu_omp_threads_bind", "use_modelscope", "usage_stats", "hf_token", "ca_bundle",
    "rollback", "rollback_dir", "model_predownload", "model_predownload_on", "model_revision",
    "hf_endpoint", "controller_model_cache", "controller_ca_bundle", "image", "image_archive_src", "ipc_host", "shm_size",
    "gpu_count", "restart_policy", "limit_nofile", "restart_sec", "health_timeout", "max_restarts",
    "predownload_poll_interval", "predownload_timeout", "advertise_address", "verify_chat",
    "start_limit_burst", "start_limit_interval_sec", "oom_score_adjust", "memory_max", "container_log_max_size",
    "container_log_max_files", "allow_unauthenticated", "fastapi_docs", "allowed_origins",
    "lock_ttl", "lock_break", "drain_routers", "allowed_clients",
    # One instance across the hosts of an inventory group (module_utils/_multinode.py).
    "multinode_group", "multinode_head", "multinode_port", "multinode_interface",
    "tensor_parallel_size", "pipeline_parallel_size",
)
SETTINGS = tuple(INSTANCE_KEYS) + ROLE_SETTINGS

CONFIG_DIR = "/etc/vllm"
# One root-only file of secrets per instance, apart from the configuration (see secrets_file).
SECRETS_DIR = CONFIG_DIR + "/secrets"
CONTAINER_CA_PATH = "/etc/llmops-vllm/ca-bundle.pem"
CONTAINER_HF_HOME = "/root/.cache/huggingface"
# TLS: where the certificate, key and CA land on the host (per instance), and where the server sees them.
# The key is a secret (0600 root, in the secrets directory); certificate and CA are public (0644).
TLS_CREDENTIALS = {"cert": "tls.crt", "key": "tls.key"}  # systemd credential ids (LoadCredential=)
CONTAINER_TLS_DIR = "/etc/llmops-vllm/tls"
TLS_VARIABLES = {"cert": "tls_cert_src", "key": "tls_key_src", "ca": "tls_ca_src"}
LABEL = "llmops.vllm.instance"
# Where an image archive from the controller lands before `docker load` (root's alone; removed after).
IMAGE_ARCHIVE_DIR = "/var/lib/llmops-vllm/images"

# Full-string patterns (re.fullmatch: a trailing newline never passes, unlike '$').
NAME_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}")
CONTAINER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
CPUS_RE = re.compile(r"\d+(-\d+)?([,|]\d+(-\d+)?)*")
HOST_RE = re.compile(r"[A-Za-z0-9.:_-]*")
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GPU_ID_RE = re.compile(r"[A-Za-z0-9-]+")
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
PATH_RE = re.compile(r"/[A-Za-z0-9._/@+,=-]*")
REVISION_RE = re.compile(r"[A-Za-z0-9._/-]+")
# A Hugging Face commit: what the server is pinned to (a branch or tag floats).
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
MEMORY_RE = re.compile(r"\d+[KMGT]?|\d{1,2}%|100%|infinity")
SIZE_RE = re.compile(r"\d+[kmg]")
CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # everything but TAB
# Directories that must never become an instance's state dir (it is chowned to the service user).
SYSTEM_DIRS = frozenset((
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/lib",
    "/var/log", "/var/tmp", "/var/cache", "/etc/vllm",
))
# Secrets have their own variables (0600 env file); on the command line they would be in `ps`.
SECRET_ARGS = ("--api-key", "--hf-token")
# vLLM's TLS flags (--ssl-keyfile, --ssl-certfile, --ssl-ca-certs, --ssl-cert-reqs, --ssl-ciphers): the
# role sets TLS from its own variables (the key as a systemd credential, the URLs and checks in https).
SSL_ARG_PREFIX = "--ssl"
# Server flags the role sets from its own variables: in extra args they would contradict them.
ROLE_ARGS = {
    "--disable-fastapi-docs": "vllm_service_fastapi_docs",
    "--no-disable-fastapi-docs": "vllm_service_fastapi_docs",
    "--allowed-origins": "vllm_service_allowed_origins",
    "--revision": "vllm_service_model_revision",
    "--shutdown-timeout": "vllm_service_shutdown_timeout",
}
# systemd / Docker wait this much longer than vLLM's own drain before they kill the server.
STOP_GRACE_SEC = 30
# A multi-node instance's nodes run under this launcher (roles/vllm_service/files/vllm_node.py): root-owned.
NODE_LAUNCHER = "/usr/local/lib/llmops-vllm/vllm_node.py"
# A CORS origin: scheme://host[:port] (no path), or "*" (any site's scripts may call the API).
ORIGIN_RE = re.compile(r"\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
HUB_PATH_RE = re.compile(r"[/.~]")


class ModelError(ValueError):
    """Bad input; the message names the variable."""


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")


def _int(value, where, minimum=None, maximum=None):
    if isinstance(value, bool):
        raise ModelError("%s must be a number, got %r" % (where, value))
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ModelError("%s must be a number, got %r" % (where, value))
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        if maximum is None:
            raise ModelError("%s must be at least %d, got %d" % (where, minimum, number))
        raise ModelError("%s must be %d-%d, got %d" % (where, minimum, maximum, number))
    return number


def _text(value, where):
    """A string without control characters (a newline or CR would end a unit or env-file line)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        raise ModelError("%s must be a string, got %r" % (where, value))
    text = str(value)
    if CONTROL_RE.search(text):
        raise ModelError("%s must not contain control characters (newline, carriage return, ...), got %r"
                         % (where, text))
    return text


def _path(value, where, empty_ok=False):
    """An absolute, normalised path of plain characters: no '..', no '.', no control characters."""
    text = _text(value, where).strip()
    if not text and empty_ok:
        return ""
    if not text.startswith("/"):
        raise ModelError("%s must be an absolute path, got %r" % (where, text))
    if not PATH_RE.fullmatch(text):
        raise ModelError("%s must be a path of letters, digits and ._/@+,=- only, got %r" % (where, text))
    parts = text.split("/")
    if ".." in parts or "." in parts:
        raise ModelError("%s must not contain '.' or '..' components, got %r" % (where, text))
    return posixpath.normpath(text)


def _origins(value):
    """vllm_service_allowed_origins as vLLM's --allowed-origins wants it: a JSON list."""
    if not isinstance(value, (list, tuple)):
        raise ModelError("vllm_service_allowed_origins must be a list of origins like https://app.example, got %r"
                         % (value,))
    origins = [_text(o, "vllm_service_allowed_origins").strip() for o in value]
    for origin in origins:
        if not ORIGIN_RE.fullmatch(origin):
            raise ModelError("vllm_service_allowed_origins must hold origins like https://app.example[:port] "
                             "(scheme and host, no path) or *, got %r" % origin)
    return origins


def _flag(arg):
    """The option an argument sets, as vLLM's parser reads it ('--ssl_keyfile=x' -> '--ssl-keyfile'); '' if none."""
    if not arg.startswith("--"):
        return ""
    return "--" + arg[2:].split("=", 1)[0].replace("_", "-")


def _protected(flag, protected):
    """The protected option `flag` sets: itself, or the option it abbreviates (argparse accepts unique
    prefixes such as --api-k); None when it is none of them."""
    for option in protected:
        if flag == option or (len(flag) > 3 and option.startswith(flag)):
            return option
    return None


def _hub_url(value, where):
    """A hub mirror gets the token: https only, except on this machine's loopback (a local stand-in)."""
    url = _text(value, where).strip()
    if not url:
        return ""
    match = re.fullmatch(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(/[A-Za-z0-9._~/%+-]*)?", url)
    if not match:
        raise ModelError("%s must be an https:// URL, got %r" % (where, url))
    if match.group(1) == "http" and not _loopback(match.group(2).strip("[]")):
        raise ModelError("%s must be an https:// URL (the Hugging Face token is sent to it), got %r; plain "
                         "http is accepted on loopback only" % (where, url))
    return url


def _loopback(host):
    """Whether only this machine can reach a server bound to `host` ('' and 0.0.0.0 are every address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_exposure(out, where):
    """A server other machines can reach answers anyone unless it has a key: refused unless opted in."""
    if _loopback(out["host"]) or out["api_key"]:
        return
    raise ModelError(
        "%s is %r (reachable from other machines) and the server has no API key: anyone who reaches the port "
        "could use it. Set an API key (vllm_service_api_key, or the instance's api_key), bind to loopback "
        "(vllm_service_host or the instance's host: 127.0.0.1, e.g. behind the vllm_router door), or accept "
        "an open server with vllm_service_allow_unauthenticated: true"
        % (where("host"), out["host"] or "0.0.0.0"))


class _EncryptedKey(Exception):
    pass


def _no_password():
    raise _EncryptedKey()


def _handshake(server_ctx, client_ctx, server_name):
    """One TLS handshake in memory between the two contexts (what a client of the server would do)."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _round in range(8):
        done = True
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                done = False
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done:
            return
    raise ssl.SSLError("the TLS handshake did not finish")


def check_tls_files(cert, key, ca, server_name):
    """Check on the controller what the server and the role's health wait will do with these files:
    the key fits the certificate (and needs no password: vLLM takes none), the CA is a PEM bundle, and a
    client trusting the CA (or, without one, the system's store) that asks for `server_name` accepts the
    certificate. Returns None when all is well, else (which file: cert|key|ca, why)."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server_ctx.load_cert_chain(cert, key, password=_no_password)
    except _EncryptedKey:
        return "key", "the private key is encrypted; vLLM takes no key password: give it an unencrypted PEM key"
    except (ssl.SSLError, OSError) as exc:
        return "key", "the certificate and the private key do not fit together or are not PEM (%s)" % exc
    if ca:
        try:
            client_ctx = ssl.create_default_context(cafile=ca)
        except (ssl.SSLError, OSError) as exc:
            return "ca", "not a PEM file of CA certificates (%s)" % exc
    else:
        # Without a CA the hosts' trust store decides (it may differ from the controller's): only the
        # name is checked here, by a client that trusts the certificate itself.
        client_ctx = ssl.create_default_context(cafile=cert)
        client_ctx.verify_flags |= getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    try:
        _handshake(server_ctx, client_ctx, server_name)
    except ssl.SSLCertVerificationError as exc:
        return "cert", "a client that trusts %s and asks for %s refuses it: %s" % (
            "the CA" if ca else "the certificate itself", server_name, str(exc.verify_message or exc).rstrip("."))
    except ssl.SSLError as exc:
        return "cert", "a TLS handshake with it fails (%s)" % exc
    return None


def credentials_mount_shared(mountinfo, path="/run/credentials"):
    """Whether the mount holding `path` (the longest mount point above it in /proc/self/mountinfo) has
    shared propagation. systemd (252) sets up a unit's credentials (LoadCredential=) in a child mount
    namespace and moves them to /run/credentials/<unit>: only a shared /run carries that mount back to
    the unit. systemd makes / shared on a host but not inside a container (Docker's /run is private),
    where the unit then finds an empty, root-only credentials directory."""
    best, shared = "", False
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        point = fields[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, shared = point, any(f.startswith("shared:") for f in fields[6:fields.index("-")])
    return shared


def _controller_file(path):
    """Default look-up of a controller file: an absolute path (~ expanded) that is a file, else None."""
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) and os.path.isfile(path) else None


def _check_tls(out, where, find_file):
    """The instance's TLS files, found on the controller and checked; None without TLS."""
    cert, key, ca = out["tls_cert_src"], out["tls_key_src"], out["tls_ca_src"]
    if bool(cert) != bool(key):
        given, missing = ("tls_cert_src", "tls_key_src") if cert else ("tls_key_src", "tls_cert_src")
        raise ModelError("%s is set but %s is not: a TLS server needs its certificate and its private key "
                         "(PEM files on the controller)" % (where(given), where(missing)))
    if not cert:
        if ca:
            raise ModelError("%s is set but the server has no certificate: set %s and %s too, or leave the CA out"
                             % (where("tls_ca_src"), where("tls_cert_src"), where("tls_key_src")))
        return None
    found = {}
    for part, key_name in TLS_VARIABLES.items():
        if not out[key_name]:
            continue
        found[part] = find_file(out[key_name])
        if not found[part]:
            raise ModelError("%s: %r is not a file on the controller" % (where(key_name), out[key_name]))
    server_name = _probe_host(out["host"])
    problem = check_tls_files(found["cert"], found["key"], found.get("ca", ""), server_name)
    if problem and problem[0] != "cert":
        raise ModelError("%s %s: %s" % (where(TLS_VARIABLES[problem[0]]), out[TLS_VARIABLES[problem[0]]], problem[1]))
    if problem:
        raise ModelError(
            "%s %s: %s. The role's health wait asks https://%s:%d on the host itself%s, so the certificate must name "
            "%s and be signed by %s" % (
                where("tls_cert_src"), cert, problem[1], _url_host(server_name), out["port"],
                " (the server listens on every address)" if server_name != out["host"] else "", server_name,
                where("tls_ca_src") if ca else "a CA in the system's trust store (or set %s)" % where("tls_ca_src")))
    return found


def _probe_host(host):
    """The address the host itself asks its server at: loopback when it listens on every address."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _url_host(host):
    return "[%s]" % host if ":" in host else host


def _check_instance(raw, where, find_file=_controller_file):
    """Check one merged instance; returns the cleaned values. `where(key)` names the variable."""
    out = {}
    name = raw["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name.strip(".") == "":
        raise ModelError("%s must be a valid unit name ([A-Za-z0-9_.@-]+, not starting with '.'), got %r"
                         % (where("name"), name))
    out["name"] = name
    out["port"] = _int(raw["port"], where("port"), 1, 65535)
    host = _text(raw["host"], where("host")).strip()
    if not HOST_RE.fullmatch(host):
        raise ModelError("%s must be an IP address or host name, got %r" % (where("host"), host))
    out["host"] = host
    out["model"] = _text(raw["model"], where("model")).strip()
    out["model_src"] = _text(raw["model_src"], where("model_src")).rstrip("/")
    if not out["model"] and not out["model_src"]:
        raise ModelError("%s (or model_src) must name a model" % where("model"))
    if ".." in out["model"].split("/"):
        raise ModelError("%s must not contain '..' components, got %r" % (where("model"), out["model"]))
    if out["model_src"] and posixpath.basename(out["model_src"]) in ("", ".", ".."):
        raise ModelError("%s must name a model directory, got %r" % (where("model_src"), raw["model_src"]))
    out["served_model_name"] = _text(raw["served_model_name"], where("served_model_name")).strip()

    args = raw["extra_args"]
    if not isinstance(args, (list, tuple)):
        raise ModelError("%s must be a list, got %r" % (where("extra_args"), args))
    out["extra_args"] = [_text(a, where("extra_args")) for a in args]
    for arg in out["extra_args"]:
        flag = _flag(arg)
        if not flag:
            continue
        secret = _protected(flag, SECRET_ARGS)
        if secret:
            raise ModelError("%s must not carry %s (it would be visible in the unit and `ps`): use "
                             "vllm_service_api_key / vllm_service_hf_token" % (where("extra_args"), secret))
        role_arg = _protected(flag, ROLE_ARGS)
        if role_arg:
            raise ModelError("%s must not carry %s: the role sets it from %s"
                             % (where("extra_args"), role_arg, ROLE_ARGS[role_arg]))
        if flag.startswith(SSL_ARG_PREFIX):
            raise ModelError("%s must not carry %s: the role sets up TLS from vllm_service_tls_cert_src, "
                             "vllm_service_tls_key_src and vllm_service_tls_ca_src (or the instance's tls_cert_src, "
                             "tls_key_src, tls_ca_src), and its health checks and published URLs follow them"
                             % (where("extra_args"), arg.split("=", 1)[0]))

    gpus = raw["cuda_visible_devices"]
    if not isinstance(gpus, (list, tuple)):
        raise ModelError("%s must be a list, got %r" % (where("cuda_visible_devices"), gpus))
    out["cuda_visible_devices"] = [str(g) for g in gpus]
    for gpu in out["cuda_visible_devices"]:
        if not GPU_ID_RE.fullmatch(gpu):
            raise ModelError("%s must hold GPU indexes or UUIDs, got %r" % (where("cuda_visible_devices"), gpu))

    cpus = _text(raw["cpus"], where("cpus")).strip()
    if cpus and not CPUS_RE.fullmatch(cpus):
        raise ModelError("%s must be CPU ids and ranges like '0-3' or '0,2,4', got %r" % (where("cpus"), cpus))
    out["cpus"] = cpus
    out["cpu_kvcache_space_gib"] = _int(raw["cpu_kvcache_space_gib"], where("cpu_kvcache_space_gib"), 1)

    env = raw["environment"]
    if not isinstance(env, dict):
        raise ModelError("%s must be a dictionary" % where("environment"))
    for key, value in env.items():
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise ModelError("%s: %r is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
                             % (where("environment"), key))
        _text(value, "%s.%s" % (where("environment"), key))
    clash = sorted(set(env) & {"HF_TOKEN", "VLLM_API_KEY"})
    if clash:
        raise ModelError("%s must not set %s: use vllm_service_hf_token / vllm_service_api_key (secrets, "
                         "kept in the 0600 env file)" % (where("environment"), ", ".join(clash)))
    out["environment"] = {k: str(v) for k, v in env.items()}

    state_dir = _path(raw["state_dir"], where("state_dir"))
    if state_dir in SYSTEM_DIRS:
        raise ModelError("%s must be a directory of its own (it is owned by the service user), got %r"
                         % (where("state_dir"), state_dir))
    out["state_dir"] = state_dir
    container_name = _text(raw["container_name"], where("container_name"))
    if not CONTAINER_NAME_RE.fullmatch(container_name):
        raise ModelError("%s must be a container name ([A-Za-z0-9][A-Za-z0-9_.-]*), got %r"
                         % (where("container_name"), container_name))
    out["container_name"] = container_name
    out["api_key"] = _text(raw["api_key"], where("api_key"))
    # vLLM's drain on SIGTERM: requests in flight get this long to finish (0 = abort them at once).
    out["shutdown_timeout"] = _int(raw["shutdown_timeout"], where("shutdown_timeout"), 0, 86400)
    for key in TLS_VARIABLES.values():
        out[key] = _text(raw[key], where(key)).strip()
    out["tls"] = _check_tls(out, where, find_file)
    return out


def _merge(settings, find_file=_controller_file):
    """The instances as listed, each completed from the role-level settings, then checked."""
    defaults = {key: settings[key] for key in INSTANCE_KEYS}
    listed = settings["instances"]
    if not listed:
        single = _check_instance(dict(defaults), lambda key: "vllm_service_%s" % key, find_file)
        if not _bool(settings["allow_unauthenticated"]):
            _check_exposure(single, lambda key: "vllm_service_%s" % key)
        return [single]
    if not isinstance(listed, (list, tuple)):
        raise ModelError("vllm_service_instances must be a list of dictionaries")

    result = []
    for index, entry in enumerate(listed):
        label = "vllm_service_instances[%d]" % index
        if not isinstance(entry, dict):
            raise ModelError("%s: must be a dictionary, got %r" % (label, entry))
        if "name" in entry:
            name = str(entry["name"])
            label = "%s (%s)" % (label, name if not CONTROL_RE.search(name) else repr(name))
        unknown = sorted(set(entry) - set(INSTANCE_KEYS))
        if unknown:
            raise ModelError("%s: unknown key(s) %s; allowed: %s" % (label, ", ".join(map(str, unknown)),
                                                                     ", ".join(INSTANCE_KEYS)))
        for key in ("name", "port"):
            if key not in entry:
                raise ModelError("%s: %s is required" % (label, key))
        instance = {k: v for k, v in defaults.items() if k not in PER_NAME_KEYS}
        base = str(defaults["state_dir"] or "/var/lib/vllm").rstrip("/") or "/"
        instance["state_dir"] = posixpath.join(posixpath.dirname(base), str(entry["name"]))
        instance["container_name"] = entry["name"]
        instance.update(entry)
        result.append(_check_instance(instance, lambda key, label=label: "%s: %s" % (label, key), find_file))

    for key in ("name", "port", "container_name", "state_dir"):
        seen = {}
        for index, instance in enumerate(result):
            value = instance[key]
            if value in seen:
                raise ModelError("vllm_service_instances[%d] (%s): %s %s is already used by instance [%d]"
                                 % (index, instance["name"], key, value, seen[value]))
            seen[value] = index
    # Last, so that a plain mistake in the list is reported as such first.
    for index, instance in enumerate(result):
        if not _bool(settings["allow_unauthenticated"]):
            _check_exposure(instance, lambda key, index=index, name=instance["name"]:
                            "vllm_service_instances[%d] (%s): %s" % (index, name, key))
    return result


def _drain_routers(value):
    """The router hosts an instance is taken out of before it restarts (inventory names, each once)."""
    where = "vllm_service_drain_routers"
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ModelError("%s must be a list of router hosts (inventory names), got %r" % (where, value))
    hosts = []
    for entry in value:
        name = _text(entry, where).strip()
        if not name:
            raise ModelError("%s must not hold an empty host name" % where)
        if name not in hosts:
            hosts.append(name)
    return hosts


def _check_role(settings):
    """The role-level settings no instance overrides; returns them cleaned."""
    s = {}
    s["mode"] = settings["mode"]
    if s["mode"] not in ("systemd", "container"):
        raise ModelError("vllm_service_mode must be systemd or container, got %r" % (s["mode"],))
    s["device"] = settings["device"]
    if s["device"] not in ("cpu", "gpu"):
        raise ModelError("vllm_service_device must be cpu or gpu, got %r" % (s["device"],))
    for key in ("user", "group"):
        value = _text(settings[key], "vllm_service_%s" % key)
        if not USER_RE.fullmatch(value):
            raise ModelError("vllm_service_%s must be a user/group name, got %r" % (key, value))
        s[key] = value
    if s["user"] == "root":
        raise ModelError("vllm_service_user must not be root")
    command = settings["command"]
    if not isinstance(command, (list, tuple)) or not command:
        raise ModelError("vllm_service_command must not be empty (a list: program and arguments)")
    s["command"] = [_text(w, "vllm_service_command") for w in command]
    s["venv_path"] = _path(settings["venv_path"], "vllm_service_venv_path")
    s["ld_preload"] = _text(settings["ld_preload"], "vllm_service_ld_preload")
    s["cpu_omp_threads_bind"] = _text(settings["cpu_omp_threads_bind"], "vllm_service_cpu_omp_threads_bind")
    for key in ("use_modelscope", "usage_stats", "rollback", "model_predownload", "ipc_host", "verify_chat",
                "fastapi_docs"):
        s[key] = _bool(settings[key])
    s["allowed_origins"] = _origins(settings["allowed_origins"])
    s["hf_token"] = _text(settings["hf_token"], "vllm_service_hf_token")
    s["ca_bundle"] = _path(settings["ca_bundle"], "vllm_service_ca_bundle", empty_ok=True)
    s["controller_ca_bundle"] = _text(settings["controller_ca_bundle"], "vllm_service_controller_ca_bundle")
    s["rollback_dir"] = _path(settings["rollback_dir"], "vllm_service_rollback_dir")
    if s["rollback_dir"] in SYSTEM_DIRS:
        raise ModelError("vllm_service_rollback_dir must be a directory of its own, got %r" % s["rollback_dir"])
    s["model_predownload_on"] = settings["model_predownload_on"]
    if s["model_predownload_on"] not in ("host", "controller"):
        raise ModelError("vllm_service_model_predownload_on must be host or controller")
    revision = _text(settings["model_revision"], "vllm_service_model_revision").strip() or "main"
    if not REVISION_RE.fullmatch(revision) or ".." in revision.split("/"):
        raise ModelError("vllm_service_model_revision must be a branch, tag or commit, got %r" % revision)
    s["model_revision"] = revision
    s["hf_endpoint"] = _hub_url(settings["hf_endpoint"], "vllm_service_hf_endpoint")
    s["advertise_address"] = _text(settings["advertise_address"], "vllm_service_advertise_address").strip()
    if not HOST_RE.fullmatch(s["advertise_address"]) or not s["advertise_address"]:
        raise ModelError("vllm_service_advertise_address must be an IP address or host name, got %r"
                         % s["advertise_address"])
    s["controller_model_cache"] = _text(settings["controller_model_cache"], "vllm_service_controller_model_cache")
    s["image"] = _text(settings["image"], "vllm_service_image").strip()
    s["image_archive_src"] = _text(settings["image_archive_src"], "vllm_service_image_archive_src").strip()
    s["shm_size"] = _text(settings["shm_size"], "vllm_service_shm_size")
    s["gpu_count"] = _int(settings["gpu_count"], "vllm_service_gpu_count", -1)
    s["restart_policy"] = _text(settings["restart_policy"], "vllm_service_restart_policy")
    s["limit_nofile"] = _int(settings["limit_nofile"], "vllm_service_limit_nofile", 1)
    s["restart_sec"] = _int(settings["restart_sec"], "vllm_service_restart_sec", 0)
    s["start_limit_burst"] = _int(settings["start_limit_burst"], "vllm_service_start_limit_burst", 1)
    s["start_limit_interval_sec"] = _int(settings["start_limit_interval_sec"], "vllm_service_start_limit_interval_sec", 1)
    s["oom_score_adjust"] = _int(settings["oom_score_adjust"], "vllm_service_oom_score_adjust", -1000, 1000)
    s["memory_max"] = _text(settings["memory_max"], "vllm_service_memory_max").strip()
    if s["memory_max"] and not MEMORY_RE.fullmatch(s["memory_max"]):
        raise ModelError("vllm_service_memory_max must be bytes with an optional K/M/G/T suffix, a percentage or "
                         "infinity (systemd's MemoryMax=), got %r" % s["memory_max"])
    if s["memory_max"] and s["mode"] == "container" and not re.fullmatch(r"\d+[KMGT]?", s["memory_max"]):
        raise ModelError("vllm_service_memory_max must be bytes with an optional K/M/G/T suffix in container mode "
                         "(Docker's --memory), got %r" % s["memory_max"])
    s["container_log_max_size"] = _text(settings["container_log_max_size"], "vllm_service_container_log_max_size")
    if not SIZE_RE.fullmatch(s["container_log_max_size"]):
        raise ModelError("vllm_service_container_log_max_size must be a size like 50m, got %r"
                         % s["container_log_max_size"])
    s["container_log_max_files"] = _int(settings["container_log_max_files"], "vllm_service_container_log_max_files", 1)
    s["health_timeout"] = _int(settings["health_timeout"], "vllm_service_health_timeout", 1)
    s["max_restarts"] = _int(settings["max_restarts"], "vllm_service_max_restarts", 0)
    s["predownload_poll_interval"] = _int(settings["predownload_poll_interval"],
                                          "vllm_service_predownload_poll_interval", 1)
    s["predownload_timeout"] = _int(settings["predownload_timeout"], "vllm_service_predownload_timeout", 1)
    # The host's run lock (plugins/module_utils/_run_lock.py): a lease shorter than a minute would end
    # in the middle of almost any run.
    s["lock_ttl"] = _int(settings["lock_ttl"], "vllm_service_lock_ttl", 60)
    s["lock_break"] = _bool(settings["lock_break"])
    s["drain_routers"] = _drain_routers(settings["drain_routers"])
    try:
        s["allowed_clients"] = check_clients(settings["allowed_clients"])
    except FirewallError as exc:
        raise ModelError(str(exc))
    if s["allowed_clients"] and s["mode"] == "container":
        raise ModelError(
            "vllm_service_allowed_clients works in systemd mode: Docker forwards a container's published ports past "
            "the host's input rules (its own DOCKER-USER chain decides), so the role would protect nothing. In "
            "container mode publish the ports on an address only the routers reach (an instance's host)")

    if s["model_predownload"] and s["mode"] == "container" and s["model_predownload_on"] == "host":
        raise ModelError(
            "vllm_service_model_predownload with vllm_service_model_predownload_on=host works in systemd mode "
            "(it runs in the host's vLLM venv); in container mode download on the controller "
            "(vllm_service_model_predownload_on: controller)")
    if s["model_predownload"] and s["model_predownload_on"] == "controller" and s["use_modelscope"]:
        raise ModelError(
            "vllm_service_model_predownload_on=controller fetches Hugging Face ids only; with "
            "vllm_service_use_modelscope download on the hosts (vllm_service_model_predownload_on: host) "
            "or stage a directory (vllm_service_model_src)")
    return s


def _environment(role, inst, container):
    """(public env, secret env) of one instance; the secrets go only into 0600 files."""
    hub_offline = bool(inst["model_src"] or role["model_predownload"])
    common = {
        "device": role["device"], "cpu_kvcache_space_gib": inst["cpu_kvcache_space_gib"],
        "cpu_omp_threads_bind": inst["cpus"] or role["cpu_omp_threads_bind"],
        "cuda_visible_devices": inst["cuda_visible_devices"], "usage_stats": role["usage_stats"],
        "hub_offline": hub_offline,
    }
    if container:
        # The image's own HOME and caches; only the hub cache is mounted (/root/.cache/huggingface).
        env = {k: v for k, v in vllm_environment(dict(common, state_dir="/root")).items()
               if k not in ("HOME", "VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "TMPDIR")}
        env["HF_HOME"] = CONTAINER_HF_HOME
    else:
        env = vllm_environment(dict(common, state_dir=inst["state_dir"], ld_preload=role["ld_preload"]))
        env["MODELSCOPE_CACHE"] = inst["state_dir"] + "/modelscope"
    env["VLLM_USE_MODELSCOPE"] = "True" if role["use_modelscope"] else "False"
    if role["hf_endpoint"]:
        env["HF_ENDPOINT"] = role["hf_endpoint"]
    if role["ca_bundle"]:
        # httpx (huggingface_hub >= 1.0) reads SSL_CERT_FILE; requests the other two.
        ca = CONTAINER_CA_PATH if container else role["ca_bundle"]
        env.update({"SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca, "CURL_CA_BUNDLE": ca})
    env.update(inst["environment"])

    secrets = {}
    if role["hf_token"]:
        secrets["HF_TOKEN"] = role["hf_token"]
    if inst["api_key"]:
        secrets["VLLM_API_KEY"] = inst["api_key"]
    return env, secrets


def _revision(role, inst):
    """How the model's revision reaches the server, and what pins it to a commit.

    pin: "local" (a staged directory or a path on the host: no revision at all), "given" (the revision
    is a commit), "download" (the pre-download resolves it to a commit; pin() puts that commit in the
    unit / container), "none" (the server resolves the revision itself at every start: it floats).
    commit: the commit the server is pinned to when known now. arg: the value of --revision when the
    model knows it ("" = no --revision, the server's default branch).
    """
    requested = role["model_revision"]
    if inst["model_src"] or HUB_PATH_RE.match(inst["model"]):
        return {"requested": requested, "pin": "local", "commit": "", "arg": ""}
    arg = "" if requested == "main" else requested
    if role["use_modelscope"]:
        # ModelScope hands out no commit to pin; "main" is its default branch (master), as in vLLM.
        return {"requested": requested, "pin": "none", "commit": "", "arg": arg}
    if COMMIT_RE.fullmatch(requested):
        return {"requested": requested, "pin": "given", "commit": requested, "arg": requested}
    return {"requested": requested, "pin": "download" if role["model_predownload"] else "none", "commit": "",
            "arg": arg}


def _server_args(role, inst, model_ref, host, port, revision):
    """vLLM's arguments after the command; revision: the value of --revision ("" = none). The model
    records where --revision goes (_revision_at), so pin() can set it once the commit is known."""
    args = ["--model", model_ref]
    if inst["served_model_name"]:
        args += ["--served-model-name", inst["served_model_name"]]
    args += ["--host", host, "--port", str(port)]
    if revision:
        args += ["--revision", revision]
    if not role["fastapi_docs"]:
        args.append("--disable-fastapi-docs")
    # Always given: vLLM's default has been "*" (any web page may call the API) in older versions.
    args += ["--allowed-origins", json.dumps(role["allowed_origins"], separators=(",", ":"))]
    # On SIGTERM (a restart, a stop) vLLM stops taking requests and lets those in flight finish.
    args += ["--shutdown-timeout", str(inst["shutdown_timeout"])]
    return args + inst["extra_args"]


def _tls_args(directory):
    """vLLM's TLS flags for a certificate and key in `directory` (verified in vLLM 0.32's FrontendArgs)."""
    return ["--ssl-certfile", "%s/%s" % (directory, TLS_CREDENTIALS["cert"]),
            "--ssl-keyfile", "%s/%s" % (directory, TLS_CREDENTIALS["key"])]


def _tls(inst):
    """Where the instance's TLS files come from (controller) and go (host); None without TLS."""
    found = inst["tls"]
    if not found:
        return None
    name = inst["name"]
    dest = {
        "cert": "%s/%s.tls.crt" % (CONFIG_DIR, name),
        "key": "%s/%s.tls.key" % (SECRETS_DIR, name),
        "ca": "%s/%s.tls-ca.pem" % (CONFIG_DIR, name),
    }
    mode = {"cert": "0644", "key": "0600", "ca": "0644"}
    return {
        # (controller file, host file, mode) for llmops.vllm.private_file; the key is root-only.
        "files": [{"src": found[part], "dest": dest[part], "mode": mode[part]} for part in ("cert", "key", "ca")
                  if part in found],
        "cert": dest["cert"],
        "key": dest["key"],
        # The CA clients on the host trust (the health wait, benchmark_from=host); "" = the system's store.
        "ca_path": dest["ca"] if "ca" in found else "",
        # The same CA on the controller (probe.yml, benchmark_from=controller).
        "controller_ca_path": found.get("ca", ""),
    }


def _revision_at(inst):
    """Index in _server_args() where --revision goes (after --model, --served-model-name, --host, --port)."""
    return 6 + (2 if inst["served_model_name"] else 0)


def _container_spec(role, inst, env, model_ref, tls, revision):
    state = inst["state_dir"]
    volumes = [state + "/hf:" + CONTAINER_HF_HOME, state + "/models:/models:ro"]
    if role["ca_bundle"]:
        volumes.append(role["ca_bundle"] + ":" + CONTAINER_CA_PATH + ":ro")
    command = _server_args(role, inst, model_ref, "0.0.0.0", 8000, revision)
    if tls:
        # Read-only into the container (which runs as root, so the root-only key is readable there).
        volumes += ["%s:%s/%s:ro" % (tls[part], CONTAINER_TLS_DIR, TLS_CREDENTIALS[part]) for part in ("cert", "key")]
        command += _tls_args(CONTAINER_TLS_DIR)
    gpu = role["device"] == "gpu"
    device_requests = None
    if gpu:
        # The guide's --gpus all / --gpus '"device=0,1"' / --gpus 2 (ids and a count cannot be combined).
        request = {"driver": "nvidia", "capabilities": [["gpu"]]}
        if inst["cuda_visible_devices"]:
            request["device_ids"] = list(inst["cuda_visible_devices"])
        else:
            request["count"] = role["gpu_count"]
        device_requests = [request]
    # Everything docker_container is given, as data (None = left out); the secrets are added by the task.
    return {
        "image": role["image"],
        "command": command,
        "env": env,
        "volumes": volumes,
        "published_ports": ["%s:%d:8000" % (inst["host"] or "0.0.0.0", inst["port"])],
        "ipc_mode": "host" if role["ipc_host"] else None,
        "shm_size": None if role["ipc_host"] else role["shm_size"],
        "capabilities": None if gpu else ["SYS_NICE"],
        "device_requests": device_requests,
        "cpuset_cpus": inst["cpus"].replace("|", ",") or None,
        "restart_policy": role["restart_policy"],
        # Docker's json-file logs grow without bound unless rotated.
        "log_driver": "json-file",
        "log_options": {"max-size": role["container_log_max_size"], "max-file": str(role["container_log_max_files"])},
        "memory": role["memory_max"] or None,
        "stop_timeout": inst["shutdown_timeout"] + STOP_GRACE_SEC,
        "labels": {LABEL: inst["name"]},
    }


def _download(role, inst, inventory_hostname, playbook_python):
    """Where the model pre-download runs and writes (None when there is nothing to download)."""
    if not role["model_predownload"] or inst["model_src"] or HUB_PATH_RE.match(inst["model"]):
        return None
    on_controller = role["model_predownload_on"] == "controller"
    state = inst["state_dir"]
    if on_controller:
        cache = role["controller_model_cache"]
        progress = "%s/progress/%s-%s.json" % (cache, inventory_hostname, inst["name"])
    else:
        cache = state + ("/modelscope" if role["use_modelscope"] else "/hf")
        progress = state + "/tmp/model-download.json"
    return {
        "on_controller": on_controller,
        "delegate_to": "localhost" if on_controller else inventory_hostname,
        "python": playbook_python if on_controller else role["venv_path"] + "/bin/python",
        "cache": cache,
        "progress_file": progress,
        "source": "modelscope" if role["use_modelscope"] else "huggingface",
        "revision": role["model_revision"],
        # the commit hash needs no ref file: the look-up goes to snapshots/<commit> directly
        "revision_is_commit": bool(COMMIT_RE.fullmatch(role["model_revision"])),
        "endpoint": "" if role["use_modelscope"] else role["hf_endpoint"],
        "timeout": role["predownload_timeout"],
        "poll_interval": role["predownload_poll_interval"],
        "ca_bundle": role["controller_ca_bundle"] if on_controller else role["ca_bundle"],
        "ca_variable": "vllm_service_controller_ca_bundle" if on_controller else "vllm_service_ca_bundle",
        "push_repo": "%s/hf/hub/models--%s" % (state, inst["model"].replace("/", "--")),
        "label": "%s@%s (%s%s)" % (inst["model"], role["model_revision"],
                                   "ModelScope" if role["use_modelscope"] else "Hugging Face",
                                   ", on the controller" if on_controller else ""),
    }


def _instance(role, inst, inventory_hostname, playbook_python, multinode=None):
    name, state = inst["name"], inst["state_dir"]
    container = role["mode"] == "container"
    staged = state + "/models/" + posixpath.basename(inst["model_src"]) if inst["model_src"] else ""
    model_ref = staged or inst["model"]
    tls = _tls(inst)
    scheme = "https" if tls else "http"
    probe_host = _url_host(_probe_host(inst["host"]))
    url = "%s://%s:%d" % (scheme, probe_host, inst["port"])
    # How other machines (the controller, a router, Prometheus) reach it.
    address = role["advertise_address"] if inst["host"] in ("0.0.0.0", "::", "") else inst["host"]
    env, secrets = _environment(role, inst, container)
    if multinode:
        env.update(multinode["env"])
    revision = _revision(role, inst)
    # A headless worker serves no HTTP: its health is its head's (the instance's) /health.
    headless = bool(multinode and multinode["role"] == "worker")
    health_host = _url_host(multinode["master_addr"]) if headless else probe_host
    unit = name + ".service"
    good = role["rollback_dir"]
    owner = "root" if container else role["user"]
    group = "root" if container else role["group"]
    result = {
        "name": name,
        "mode": role["mode"],
        "device": role["device"],
        "port": inst["port"],
        "host": inst["host"],
        "url": url,
        "health_url": "%s://%s:%d/health" % (scheme, health_host, inst["port"]),
        "address": address,
        "public_url": "%s://%s:%d" % (scheme, _url_host(address), inst["port"]),
        "tls": tls,
        # A multi-node instance: this host's part (role head|worker, rank, ...); a headless worker serves
        # no HTTP (no endpoint, no health URL: its unit being active is its health).
        "multinode": multinode,
        "headless": headless,
        "model": inst["model"],
        "model_src": inst["model_src"],
        "staged_model": staged,
        "model_ref": model_ref,
        "served_model": inst["served_model_name"] or model_ref,
        "state_dir": state,
        # Owned by the server's user (root in container mode, where the container runs as root).
        "owner": owner,
        "group": group,
        # Created in this order with links refused (the staged model's directory too).
        "directories": [state + d for d in ("", "/hf", "/models")]
        + ([] if container else [state + "/cache", state + "/tmp"]) + ([staged] if staged else []),
        "env": env,
        "secret_env": secrets,
        "api_key": inst["api_key"],
        "unit": unit if not container else None,
        "container_name": inst["container_name"] if container else None,
        "download": _download(role, dict(inst), inventory_hostname, playbook_python),
        # What pins the model to a commit (see _revision); pin() applies a pre-download's commit.
        "revision": revision,
        # Healthy means /health answers and, with vllm_service_verify_chat, a short chat request too.
        "health": {"timeout": role["health_timeout"], "max_restarts": role["max_restarts"],
                   "chat_model": (inst["served_model_name"] or model_ref)
                   if role["verify_chat"] and not headless else "",
                   "ca_path": tls["ca_path"] if tls else "",
                   # For a rollback to a configuration with the other scheme (TLS turned on or off).
                   "plain_url": "http://%s:%d/health" % (health_host, inst["port"]),
                   "tls_url": "https://%s:%d/health" % (health_host, inst["port"])},
    }
    if container:
        spec_file = "%s/%s.container.json" % (CONFIG_DIR, name)
        result["container"] = _container_spec(role, inst, env, "/models/" + posixpath.basename(inst["model_src"])
                                              if inst["model_src"] else inst["model"], tls, revision["arg"])
        revision["command_at"] = _revision_at(inst)
        result["config_files"] = [
            {"path": spec_file, "good": "%s/%s.container.json" % (good, name), "mode": "0600"},
        ]
    else:
        result["unit_path"] = "/etc/systemd/system/" + unit
        result["env_file"] = "%s/%s.env" % (CONFIG_DIR, name)
        # Never part of the last good copy: a rollback keeps the current (possibly rotated) keys.
        result["secrets_file"] = "%s/%s.env" % (SECRETS_DIR, name)
        # A node of a multi-node instance: vLLM's CLI (`serve`, which alone knows --headless) under the launcher.
        command = [role["venv_path"] + "/bin/python", NODE_LAUNCHER] + multinode["launcher_args"] + ["--", "serve"] \
            if multinode else role["command"]
        result["argv"] = command + _server_args(role, inst, model_ref, inst["host"], inst["port"],
                                                revision["arg"]) + (multinode["args"] if multinode else [])
        revision["argv_at"] = len(command) + _revision_at(inst)
        result["unit_settings"] = {
            "user": role["user"],
            "group": role["group"],
            "working_directory": state,
            "cpu_affinity": inst["cpus"].replace("|", ","),
            "restart_sec": role["restart_sec"],
            "timeout_stop_sec": inst["shutdown_timeout"] + STOP_GRACE_SEC,
            "limit_nofile": role["limit_nofile"],
            "start_limit_burst": role["start_limit_burst"],
            "start_limit_interval_sec": role["start_limit_interval_sec"],
            "oom_score_adjust": role["oom_score_adjust"],
            "memory_max": role["memory_max"],
            # ProtectSystem=strict: the only paths the server may write (checked paths: no spaces).
            "read_write_paths": [state],
            # TLS: systemd reads the root-only certificate and key (LoadCredential=) and hands the server
            # copies only it can read, in its credentials directory (%d); the service user never reads
            # /etc/vllm. The arguments hold the %d specifier, so the template adds them unescaped.
            "credentials": [{"id": TLS_CREDENTIALS[part], "path": tls[part]} for part in ("cert", "key")] if tls else [],
            "credential_args": _tls_args("%d") if tls else [],
        }
        result["config_files"] = [
            {"path": result["unit_path"], "good": "%s/%s" % (good, unit), "mode": "0644"},
            {"path": result["env_file"], "good": "%s/%s.env" % (good, name), "mode": "0600"},
        ]
    # Written by llmops.vllm.private_file (one task, no checksum or diff in any result), never part of the
    # last good copy: the secrets env file (systemd; from a template) and the TLS files (from the controller).
    result["private_files"] = (
        [] if container else [{"dest": result["secrets_file"], "template": "vllm.secrets.env.j2", "src": "", "mode": "0600"}]
    ) + [dict(f, template="") for f in (tls["files"] if tls else [])]
    return result


def _set_revision(args, at, had_arg, commit):
    """args with --revision <commit> at index `at` (replacing the revision the model put there)."""
    if had_arg:
        return args[:at] + ["--revision", commit] + args[at + 2:]
    return args[:at] + ["--revision", commit] + args[at:]


def pin(instance, download=None):
    """The instance as it runs: with the commit its model's pre-download resolved to.

    download: the result of llmops.vllm.model_download for this instance (the job's result, or the
    module's own answer in check mode; {} or a skipped result when none ran). When the instance's
    revision is pinned by the download (revision.pin == "download") and the result names a commit for
    this instance's model, that commit becomes the server's --revision (argv and container command)
    and revision.commit: a moved branch changes the unit, so the change goes through the restart, the
    health wait and the rollback like any other. Otherwise the instance is returned as it is.

    Adds restart_for_download: true when the download changed files in place that no commit pins
    (ModelScope), so the server is restarted (under the health gate) now, not at some later restart.
    """
    out = dict(instance)
    out["restart_for_download"] = False
    plan = instance.get("download")
    if not plan or not isinstance(download, dict) or download.get("skipped") or download.get("failed"):
        return out
    # A result registered for another instance (the download of this one did not run) is not this one's.
    if download.get("repo_id") not in (None, instance["model"]):
        return out
    revision = instance["revision"]
    if revision["pin"] != "download":
        out["restart_for_download"] = revision["pin"] == "none" and bool(download.get("changed"))
        return out
    commit = download.get("commit") or ""
    if not COMMIT_RE.fullmatch(commit):
        return out
    had_arg = bool(revision["arg"])
    out["revision"] = dict(revision, commit=commit, arg=commit)
    if "argv" in instance:
        out["argv"] = _set_revision(instance["argv"], revision["argv_at"], had_arg, commit)
    if instance.get("container"):
        out["container"] = dict(instance["container"], command=_set_revision(
            instance["container"]["command"], revision["command_at"], had_arg, commit))
    return out


def _warnings(role, instances):
    """What the role warns about without refusing: a hub model that floats."""
    floating = [i for i in instances if i["revision"]["pin"] == "none" and not role["use_modelscope"]]
    if not floating:
        return []
    return ["vllm_service_model_revision %r of %s is a branch or tag and vllm_service_model_predownload is off: "
            "the server resolves it on the hub at every start, so new weights there go live at the next restart, "
            "outside the health wait and the rollback. Pin it: vllm_service_model_predownload: true (the server "
            "is pinned to the commit the download resolved) or a 40-character commit as "
            "vllm_service_model_revision." % (role["model_revision"], ", ".join(sorted({i["model"] for i in floating})))]


def _image_archive(role, find_file):
    """Container mode's image from a `docker save` archive on the controller (hosts without a registry):
    which images it holds, checked to hold vllm_service_image; None without an archive or a container."""
    if not role["image_archive_src"] or role["mode"] != "container":
        return None
    src = find_file(role["image_archive_src"])
    if not src:
        raise ModelError("vllm_service_image_archive_src: no such file on the controller: %r" % role["image_archive_src"])
    try:
        images = read_images(src)
    except ArchiveError as exc:
        raise ModelError("vllm_service_image_archive_src: %s" % exc) from exc
    if not holds(images, role["image"]):
        raise ModelError("vllm_service_image_archive_src (%s) holds %s, not vllm_service_image %r" % (
            src, ", ".join(t for i in images for t in i["tags"]) or "untagged images only", role["image"]))
    return {"src": src, "dest": "%s/%s" % (IMAGE_ARCHIVE_DIR, posixpath.basename(src)),
            "ids": [i["id"] for i in images], "tags": [t for i in images for t in i["tags"]]}


def _multinode(settings, role, merged, inventory_hostname, group_nodes):
    """This host's part in a multi-node instance (None for a single-host one); refused by name."""
    group = _text(settings["multinode_group"], "vllm_service_multinode_group").strip()
    if not group:
        return None
    if role["mode"] != "systemd":
        raise ModelError("vllm_service_multinode_group: a multi-node instance runs as systemd units "
                         "(vllm_service_mode: systemd), not in containers yet")
    if len(merged) != 1:
        raise ModelError("vllm_service_multinode_group: a multi-node instance is the host's only instance "
                         "(vllm_service_instances lists %d)" % len(merged))
    nodes = group_nodes or {}
    inst = merged[0]
    try:
        found = multinode_plan(
            group, nodes.get("members", []), _text(settings["multinode_head"], "vllm_service_multinode_head").strip(),
            inventory_hostname, nodes.get("addresses", {}), settings["tensor_parallel_size"],
            settings["pipeline_parallel_size"], settings["multinode_port"], settings["multinode_interface"],
            role["device"], inst["cuda_visible_devices"], role["gpu_count"], inst["extra_args"])
    except MultinodeError as exc:
        raise ModelError(str(exc)) from exc
    if found["role"] == "head" and _is_loopback(inst["host"]):
        raise ModelError("vllm_service_host: the head of a multi-node instance must listen where its workers "
                         "reach it (they wait for its /health), not on %s" % inst["host"])
    return found


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def build(settings, inventory_hostname="localhost", playbook_python="python3", find_file=_controller_file,
          group_nodes=None):
    """The whole model: {'instances': [...], 'endpoints': [...], 'names': [...], ...}.

    settings: {key: value} for every key in SETTINGS (the role variables without their prefix).
    find_file(path): a controller file's absolute path, or None when there is none (the TLS files;
    the action plugin resolves relative paths the way copy's src does).
    Raises ModelError, naming the variable, on anything that must not reach the host.
    """
    missing = [k for k in SETTINGS if k not in settings]
    if missing:
        raise ModelError("vllm_service model: settings lack %s" % ", ".join(missing))
    role = _check_role(settings)
    merged = _merge(settings, find_file)
    multinode = _multinode(settings, role, merged, inventory_hostname, group_nodes)
    instances = [_instance(role, inst, inventory_hostname, playbook_python, multinode) for inst in merged]
    endpoints = [{
        "name": i["name"], "url": i["url"], "public_url": i["public_url"], "address": i["address"],
        "port": i["port"], "model": i["served_model"], "mode": i["mode"], "unit": i["unit"],
        "container": i["container_name"], "tls": bool(i["tls"]),
        # The CA clients trust for the https URLs: on the host (url) and on the controller (public_url).
        "ca_path": i["tls"]["ca_path"] if i["tls"] else "",
        "controller_ca_path": i["tls"]["controller_ca_path"] if i["tls"] else "",
    } for i in instances if not i["headless"]]  # a multi-node instance is one endpoint: its head's
    # Every directory the role creates, in order: the root-only configuration directories, then each
    # instance's own (owned by the server's user; created with links refused).
    directories = [{"path": CONFIG_DIR, "owner": "root", "group": "root", "mode": "0755"},
                   {"path": role["rollback_dir"], "owner": "root", "group": "root", "mode": "0700"},
                   {"path": SECRETS_DIR, "owner": "root", "group": "root", "mode": "0700"}]
    for inst in instances:
        directories += [{"path": d, "owner": inst["owner"], "group": inst["group"], "mode": "0750"}
                        for d in inst["directories"]]
    # The nodes of a multi-node instance ask the head's /health: the firewall lets them.
    clients = list(role["allowed_clients"])
    if clients and multinode:
        clients += [a for a in multinode["addresses"] if a not in clients]
    image_archive = _image_archive(role, find_file)
    if image_archive:
        directories += [{"path": p, "owner": "root", "group": "root", "mode": "0700"}
                        for p in (posixpath.dirname(IMAGE_ARCHIVE_DIR), IMAGE_ARCHIVE_DIR)]
    return {
        "instances": instances,
        "endpoints": endpoints,
        "directories": directories,
        "names": [i["name"] for i in instances],
        "container_names": [i["container_name"] for i in instances if i["container_name"]],
        "home": instances[0]["state_dir"],
        "rollback": role["rollback"],
        "rollback_dir": role["rollback_dir"],
        "ca_bundle": role["ca_bundle"],
        "secrets": any(i["secret_env"] for i in instances),
        "secrets_dir": SECRETS_DIR,
        "lock_ttl": role["lock_ttl"],
        "lock_break": role["lock_break"],
        "drain_routers": role["drain_routers"],
        # Container mode's image pushed from the controller (tasks/image-archive.yml): None = pulled.
        "image_archive": image_archive,
        # The host firewall (tasks/firewall.yml, module_utils/_firewall.py): None = none managed.
        "firewall": {"clients": clients, "names": client_names(clients),
                     "ports": sorted({i["port"] for i in instances})} if clients else None,
        # The launcher of a multi-node instance's nodes (tasks/configure-systemd.yml); None = no such instance.
        "node_launcher": NODE_LAUNCHER if multinode else None,
        "warnings": _warnings(role, instances),
    }
