# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run and parse ``nvidia-smi``.

Only the documented, stable interfaces are used:

* ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits``
* ``nvidia-smi --version`` (both the layout up to 595 and the 610+ one with
  ``KMD version`` / ``CUDA UMD version``) and, as a fallback for the CUDA
  version on old drivers, the header of the default ``nvidia-smi`` table.

A value that is not a dotted version number is never reported as a version.

Everything here is a plain function that takes a ``run_command`` callable
(``args -> (rc, stdout, stderr)``, the signature of
``AnsibleModule.run_command``) so it can be tested without a GPU.
"""

from __future__ import annotations

import csv
import re

# (nvidia-smi field, fact key, conversion). Order is the order of the query.
GPU_FIELDS = (
    ('index', 'index', 'int'),
    ('name', 'name', 'str'),
    ('uuid', 'uuid', 'str'),
    ('pci.bus_id', 'pci_bus_id', 'str'),
    ('driver_version', 'driver_version', 'version'),
    ('vbios_version', 'vbios_version', 'str'),
    ('memory.total', 'memory_total_mib', 'int'),
    ('memory.used', 'memory_used_mib', 'int'),
    ('memory.free', 'memory_free_mib', 'int'),
    ('compute_cap', 'compute_capability', 'str'),
    ('mig.mode.current', 'mig_mode', 'str'),
    ('mig.mode.pending', 'mig_mode_pending', 'str'),
    ('persistence_mode', 'persistence_mode', 'str'),
    ('compute_mode', 'compute_mode', 'str'),
    ('ecc.mode.current', 'ecc_mode', 'str'),
    ('pstate', 'pstate', 'str'),
    ('temperature.gpu', 'temperature_c', 'num'),
    ('power.draw', 'power_draw_w', 'num'),
    ('power.limit', 'power_limit_w', 'num'),
    ('utilization.gpu', 'utilization_gpu_pct', 'num'),
    ('utilization.memory', 'utilization_memory_pct', 'num'),
    ('clocks.current.sm', 'clocks_sm_mhz', 'num'),
    ('clocks.max.sm', 'clocks_max_sm_mhz', 'num'),
)

# Fields without which the result is meaningless; never dropped on retry.
REQUIRED_FIELDS = ('index',)

QUERY_FORMAT = '--format=csv,noheader,nounits'

_INVALID_FIELD_RE = re.compile(r'Field\s+"([^"]+)"\s+is not a valid field to query', re.IGNORECASE)
_NO_DRIVER_RE = re.compile(
    r"couldn't communicate with the NVIDIA driver|NVIDIA-SMI has failed|"
    r'Failed to initialize NVML|Driver/library version mismatch|Unable to determine the device handle',
    re.IGNORECASE,
)
_NO_DEVICES_RE = re.compile(r'No devices were found', re.IGNORECASE)
_NUMBER_RE = re.compile(r'^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$')
_INT_RE = re.compile(r'^[+-]?\d+$')

_CUDA_TABLE_RE = re.compile(r'CUDA\s+(?:Driver\s+)?Version\s*:\s*([0-9][0-9.]*)', re.IGNORECASE)
_DRIVER_TABLE_RE = re.compile(r'Driver\s+Version\s*:\s*([0-9][0-9.]*)', re.IGNORECASE)


class NvidiaSmiError(Exception):
    """nvidia-smi is there but could not deliver what was asked."""

    def __init__(self, msg, rc=None, stdout='', stderr='', cmd=None):
        super(NvidiaSmiError, self).__init__(msg)
        self.msg = msg
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd


def is_missing(value):
    """True for the placeholders nvidia-smi prints instead of a value.

    ``[N/A]``, ``[Not Supported]``, ``[Unknown Error]``, ``[Insufficient Permissions]``,
    ``N/A`` and the empty string all mean "no value".
    """
    if value is None:
        return True
    value = value.strip()
    if not value:
        return True
    if value.startswith('[') and value.endswith(']'):
        return True
    return value.upper() in ('N/A', 'NOT SUPPORTED', 'UNKNOWN ERROR')


def convert_value(value, kind):
    """Convert one ``nounits`` CSV cell. Placeholders become ``None``."""
    if is_missing(value):
        return None
    value = value.strip()
    if kind == 'str':
        return value
    if kind == 'version':
        return value if is_version(value) else None
    if kind == 'int':
        if _INT_RE.match(value):
            return int(value)
        if _NUMBER_RE.match(value):
            return int(float(value))
        return None
    if kind == 'num':
        if _INT_RE.match(value):
            return int(value)
        if _NUMBER_RE.match(value):
            return float(value)
        return None
    raise ValueError('unknown conversion %r' % kind)


def build_query_args(binary, fields):
    return [binary, '--query-gpu=' + ','.join(fields), QUERY_FORMAT]


def _output_text(stdout, stderr):
    return '\n'.join(part.strip() for part in (stdout or '', stderr or '') if part and part.strip())


def driver_failure_message(stdout, stderr):
    """A clear message when nvidia-smi cannot talk to the driver, else None."""
    text = _output_text(stdout, stderr)
    if _NO_DRIVER_RE.search(text):
        return ('nvidia-smi is installed but cannot communicate with the NVIDIA driver '
                '(driver not loaded, not installed for the running kernel, or a driver/library '
                'version mismatch that needs a reboot). nvidia-smi said: %s' % text)
    return None


def invalid_fields(stdout, stderr):
    """Fields nvidia-smi rejected as ``not a valid field to query``."""
    return _INVALID_FIELD_RE.findall(_output_text(stdout, stderr))


def parse_query_csv(text, fields):
    """Parse ``--format=csv,noheader,nounits`` output for ``fields``.

    Returns a list of dicts keyed by nvidia-smi field name, raw strings.
    """
    rows = []
    lines = [line for line in (text or '').splitlines() if line.strip()]
    for row in csv.reader(lines, skipinitialspace=True):
        if not row:
            continue
        if len(row) != len(fields):
            raise NvidiaSmiError(
                'Unexpected nvidia-smi output: %d values for %d queried fields in line %r'
                % (len(row), len(fields), ', '.join(row)))
        rows.append(dict(zip(fields, [cell.strip() for cell in row])))
    return rows


def rows_to_gpus(rows, field_map=None):
    """Turn parsed rows into GPU fact dicts, sorted by index.

    Every key of ``GPU_FIELDS`` is present; fields that were not queried
    (dropped as unknown on an old driver) are ``None``.
    """
    field_map = field_map or GPU_FIELDS
    gpus = []
    for row in rows:
        gpu = {}
        for field, key, kind in field_map:
            gpu[key] = convert_value(row.get(field), kind)
        gpus.append(gpu)
    gpus.sort(key=lambda g: (g['index'] is None, g['index']))
    return gpus


def query_gpus(run_command, binary, field_map=None):
    """Query GPUs, dropping fields the driver does not know.

    Returns ``(gpus, unsupported_fields)``. Raises :class:`NvidiaSmiError`.
    """
    field_map = field_map or GPU_FIELDS
    fields = [f[0] for f in field_map]
    unsupported = []
    # nvidia-smi reports one unknown field per run, so allow one retry per field.
    for dummy in range(len(fields) + 1):
        args = build_query_args(binary, fields)
        rc, out, err = run_command(args)
        if rc == 0:
            rows = parse_query_csv(out, fields)
            return rows_to_gpus(rows, field_map), unsupported
        msg = driver_failure_message(out, err)
        if msg:
            raise NvidiaSmiError(msg, rc=rc, stdout=out, stderr=err, cmd=args)
        if _NO_DEVICES_RE.search(_output_text(out, err)):
            return [], unsupported
        bad = [f for f in invalid_fields(out, err) if f in fields]
        if not bad:
            raise NvidiaSmiError(
                'nvidia-smi failed (rc=%s): %s' % (rc, _output_text(out, err) or 'no output'),
                rc=rc, stdout=out, stderr=err, cmd=args)
        required = [f for f in bad if f in REQUIRED_FIELDS]
        if required:
            raise NvidiaSmiError(
                'nvidia-smi does not support the required field(s) %s: %s'
                % (', '.join(required), _output_text(out, err)),
                rc=rc, stdout=out, stderr=err, cmd=args)
        for field in bad:
            fields.remove(field)
            unsupported.append(field)
    raise NvidiaSmiError('nvidia-smi kept rejecting query fields: %s' % ', '.join(unsupported))


def _normalize_key(key):
    return re.sub(r'[^a-z0-9]+', ' ', key.lower()).strip()


# A driver or CUDA version: dotted numbers (610.57.04, 13.3). Anything else (``Deprecated, see
# "KMD version" instead`` on 610+ drivers, ``[N/A]``, garbage) is never reported as a version.
_VERSION_RE = re.compile(r'^\d+(\.\d+)+$')

# ``--version`` keys (normalized) -> fact, best first. The 610 driver branch renamed the lines
# (``KMD version``, ``CUDA UMD version``) and left the old ones with a "Deprecated" text.
_VERSION_KEYS = (
    ('driver_version', ('kmd version', 'driver version')),
    ('cuda_version', ('cuda umd version', 'cuda version', 'cuda driver version')),
    ('nvml_version', ('nvml version',)),
    ('smi_version', ('nvidia smi version',)),
)


def is_version(value):
    """True when ``value`` is a dotted version number such as ``610.57.04`` or ``13.3``."""
    return isinstance(value, str) and bool(_VERSION_RE.match(value.strip()))


def version_or_none(value):
    """``value`` stripped when it is a version number, else ``None``."""
    return value.strip() if is_version(value) else None


def parse_version_output(text):
    """Parse ``nvidia-smi --version``.

    Layout up to the 595 driver branch::

        NVIDIA-SMI version  : 590.48.01
        NVML version        : 590.48
        DRIVER version      : 590.48.01
        CUDA Version        : 13.1

    From the 610 branch on (``DRIVER``/``CUDA version`` kept but deprecated)::

        DRIVER version      : Deprecated, see "KMD version" instead
        CUDA version        : Deprecated, see "CUDA UMD version" instead
        KMD version         : 610.57.04
        CUDA UMD version    : 13.3

    Keys are matched case-insensitively, ignoring punctuation (``CUDA-Version``); the new
    names win over the old ones, and a value that is not a dotted version number is never
    returned. Returns a dict with any of ``smi_version``, ``nvml_version``,
    ``driver_version`` and ``cuda_version``.
    """
    found = {}
    for line in (text or '').splitlines():
        if ':' not in line:
            continue
        key, value = line.split(':', 1)
        key = _normalize_key(key)
        words = value.split()
        if not words or not is_version(words[0]):
            continue
        found.setdefault(key, words[0])
    result = {}
    for name, keys in _VERSION_KEYS:
        for key in keys:
            if key in found:
                result[name] = found[key]
                break
    return result


def parse_table_header(text):
    """Driver and CUDA version from the default ``nvidia-smi`` table header.

    ``| NVIDIA-SMI 590.48.01   Driver Version: 590.48.01   CUDA Version: 13.1 |``
    """
    result = {}
    match = _DRIVER_TABLE_RE.search(text or '')
    if match and is_version(match.group(1)):
        result['driver_version'] = match.group(1)
    match = _CUDA_TABLE_RE.search(text or '')
    if match and is_version(match.group(1)):
        result['cuda_version'] = match.group(1)
    return result


def query_versions(run_command, binary):
    """Driver and CUDA versions, from ``--version`` then the table header."""
    versions = {}
    rc, out, err = run_command([binary, '--version'])
    if rc == 0:
        versions.update(parse_version_output(out))
    if not versions.get('cuda_version') or not versions.get('driver_version'):
        rc, out, err = run_command([binary])
        if rc == 0 or parse_table_header(out):
            for key, value in parse_table_header(out).items():
                versions.setdefault(key, value)
    return versions


def gather_facts(run_command, binary):
    """All facts for a present ``nvidia-smi``.

    Returns ``(facts, unsupported_fields)``; raises :class:`NvidiaSmiError`.
    """
    gpus, unsupported = query_gpus(run_command, binary)
    versions = query_versions(run_command, binary)
    driver = version_or_none(versions.get('driver_version'))
    if not driver:
        driver = next((g['driver_version'] for g in gpus if is_version(g.get('driver_version'))), None)
    facts = dict(
        nvidia_smi_present=True,
        nvidia_gpus=gpus,
        nvidia_gpu_count=len(gpus),
        nvidia_driver_version=driver,
        nvidia_cuda_version=version_or_none(versions.get('cuda_version')),
    )
    return facts, unsupported


def absent_facts():
    return dict(
        nvidia_smi_present=False,
        nvidia_gpus=[],
        nvidia_gpu_count=0,
        nvidia_driver_version=None,
        nvidia_cuda_version=None,
    )
