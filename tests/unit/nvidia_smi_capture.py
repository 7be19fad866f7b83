# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the real nvidia-smi captures in tests/fixtures/nvidia-smi/ and replay them.

Plain stdlib module (no pytest): the fake ``nvidia-smi`` executable that the
module tests write imports it too.

Each capture file is a sequence of sections::

    ################################################################################
    # <phase> :: <what>
    # $ <the exact command that was run>
    ################################################################################
    <its stdout>

The ``--query-gpu=<every field> --format=csv`` section has a header row
(``memory.total [MiB]``) and values with units (``81559 MiB``). A replay of
``--query-gpu=<subset> --format=csv,noheader,nounits`` is derived from it by
selecting columns by header name and dropping the unit that the header
names. Nothing else is made up.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re

# tests/unit/<this file> -> tests/fixtures/nvidia-smi
FIXTURE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'nvidia-smi')

CAPTURES = {
    'rtx2080super': 'linux-x86_64__nvidia-geforce-rtx-2080-super__595.71.05.txt',
    'h100': 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt',
    'h200-mig': 'linux-x86_64__nvidia-h200-mig__590.48.01.txt',
}

# Not a full capture: only the `nvidia-smi --version` output of a 610.57.04 driver, quoted in issue #13.
ISSUE_610_VERSION = 'from-issue-13__nvidia-geforce-rtx-2080-super__610.57.04__version-only.txt'

_RULE = '#' * 80
_HEADER_UNIT_RE = re.compile(r'^(?P<name>\S+)(?:\s+\[(?P<unit>[^\]]+)\])?$')

# What nvidia-smi prints when the kernel module is not loaded (exit code 9).
DRIVER_NOT_LOADED = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                     "Make sure that the latest NVIDIA driver is installed and running.\n")


def capture_path(name):
    return os.path.join(FIXTURE_DIR, CAPTURES.get(name, name))


def load_sections(path):
    """``[(title, command, body)]`` in file order."""
    with open(path, encoding='utf-8') as handle:
        lines = handle.read().split('\n')
    sections = []
    i = 0
    while i < len(lines):
        if lines[i] == _RULE and i + 1 < len(lines) and lines[i + 1].startswith('# '):
            j = i + 1
            header = []
            while j < len(lines) and lines[j] != _RULE:
                header.append(lines[j])
                j += 1
            title = header[0][2:].strip()
            command = None
            for line in header[1:]:
                if line.startswith('# $ '):
                    command = line[4:].strip()
            k = j + 1
            body = []
            while k < len(lines) and lines[k] != _RULE:
                body.append(lines[k])
                k += 1
            sections.append((title, command, '\n'.join(body).rstrip('\n') + '\n'))
            i = k
        else:
            i += 1
    return sections


def section(path, title_prefix):
    """Body of the first section whose title starts with ``title_prefix``."""
    for title, dummy, body in load_sections(path):
        if title.startswith(title_prefix):
            return body
    raise KeyError('no section %r in %s' % (title_prefix, path))


def version_output(path):
    """stdout of ``nvidia-smi --version``."""
    return section(path, 'capabilities :: version')


def table_output(path, phase='idle'):
    """stdout of plain ``nvidia-smi`` (the default table)."""
    return section(path, '%s :: nvidia-smi (default table)' % phase)


def full_query(path, phase='idle'):
    """``(columns, rows)`` of the full ``--format=csv`` query.

    ``columns`` is a list of ``(field name, unit or None)``; rows are lists
    of raw strings (units included).
    """
    body = section(path, '%s :: query-gpu (csv' % phase)
    reader = csv.reader(io.StringIO(body), skipinitialspace=True)
    rows = [row for row in reader if row]
    columns = []
    for cell in rows[0]:
        match = _HEADER_UNIT_RE.match(cell.strip())
        columns.append((match.group('name'), match.group('unit')))
    return columns, rows[1:]


def field_names(path, phase='idle'):
    return [name for name, dummy in full_query(path, phase)[0]]


def strip_unit(value, unit):
    value = value.strip()
    if unit and value.endswith(' ' + unit):
        return value[:-len(unit) - 1]
    return value


def raw_values(path, phase='idle'):
    """One dict per GPU: field name -> value with the unit dropped (what ``nounits`` prints)."""
    columns, rows = full_query(path, phase)
    return [dict((name, strip_unit(value, unit)) for (name, unit), value in zip(columns, row))
            for row in rows]


def replay_query(path, fields, phase='idle'):
    """stdout of ``--query-gpu=<fields> --format=csv,noheader,nounits``.

    Raises ``KeyError(field)`` for the first field the capture does not have.
    """
    gpus = raw_values(path, phase)
    for field in fields:
        if gpus and field not in gpus[0]:
            raise KeyError(field)
    return ''.join(', '.join(gpu[f] for f in fields) + '\n' for gpu in gpus)


class CaptureRunner(object):
    """In-process stand-in for ``run_command``: answers nvidia-smi calls from a capture.

    ``unknown_fields`` emulates an older driver that rejects those query
    fields the way nvidia-smi does (one error per run, exit code 2).
    """

    def __init__(self, name, phase='idle', unknown_fields=(), version_text=None, driver_loaded=True,
                 version_supported=True):
        self.path = capture_path(name)
        self.version_supported = version_supported
        self.phase = phase
        self.unknown_fields = set(unknown_fields)
        self.version_text = version_text
        self.driver_loaded = driver_loaded
        self.calls = []

    def __call__(self, args):
        self.calls.append(list(args))
        return respond(args[1:], self.path, self.phase, self.unknown_fields, self.version_text,
                       self.driver_loaded, self.version_supported)


def respond(args, path, phase='idle', unknown_fields=(), version_text=None, driver_loaded=True,
            version_supported=True):
    """``(rc, stdout, stderr)`` of ``nvidia-smi <args>`` replayed from the capture at ``path``."""
    if not driver_loaded:
        return 9, DRIVER_NOT_LOADED, ''
    if not args:
        return 0, table_output(path, phase), ''
    if args == ['-q']:
        return 0, section(path, '%s :: query (-q)' % phase), ''
    if args == ['--version']:
        if not version_supported:
            return 2, "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n", ''
        return 0, version_text if version_text is not None else version_output(path), ''
    if args[0].startswith('--query-gpu=') and args[1:] == ['--format=csv,noheader,nounits']:
        fields = args[0][len('--query-gpu='):].split(',')
        for field in fields:
            if field in unknown_fields:
                return 2, ('Field "%s" is not a valid field to query.\n\n' % field), ''
        try:
            return 0, replay_query(path, fields, phase), ''
        except KeyError as exc:
            return 2, ('Field "%s" is not a valid field to query.\n\n' % exc.args[0]), ''
    return 2, "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n", ''


FAKE_NVIDIA_SMI = '''#!{python}
# Stands in for nvidia-smi: no GPU on CI machines.
# Replays the real capture named in fake-nvidia-smi.json for the arguments it gets,
# and can emulate a driver that is not loaded or an older driver's unknown fields.
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'fake-nvidia-smi.json')) as handle:
    CONF = json.load(handle)
sys.path.insert(0, CONF['helper_dir'])
import nvidia_smi_capture  # noqa: E402

with open(os.path.join(HERE, 'fake-nvidia-smi.calls'), 'a') as handle:
    handle.write(json.dumps(sys.argv[1:]) + '\\n')
rc, out, err = nvidia_smi_capture.respond(
    sys.argv[1:], CONF['capture'], CONF.get('phase', 'idle'), CONF.get('unknown_fields', []),
    CONF.get('version_text'), CONF.get('driver_loaded', True), CONF.get('version_supported', True))
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
'''


def write_fake_nvidia_smi(directory, python, capture, **conf):
    """Write the stand-in executable ``<directory>/nvidia-smi``; return its path.

    ``conf``: ``phase``, ``unknown_fields``, ``version_text``, ``driver_loaded``,
    ``version_supported``. Calls are logged, one JSON list per line, to
    ``<directory>/fake-nvidia-smi.calls``.
    """
    conf = dict(conf, capture=capture_path(capture), helper_dir=os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(directory, 'fake-nvidia-smi.json'), 'w') as handle:
        json.dump(conf, handle)
    path = os.path.join(directory, 'nvidia-smi')
    with open(path, 'w') as handle:
        handle.write(FAKE_NVIDIA_SMI.replace('{python}', python))
    os.chmod(path, 0o755)
    return path


def fake_calls(directory):
    path = os.path.join(directory, 'fake-nvidia-smi.calls')
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]
