# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU check for a real NVIDIA host with no network (llmops.vllm; `make gpu-check`).

Needs only python3, this repository (the collection) and, unless ansible-core is importable already,
the wheels that `make gpu-check-wheels` stages in tests/gpu/wheels/ (ansible-core and its
dependencies; unpacked into a temporary directory, nothing is installed on the host). Changes nothing
on the host: every role runs in check mode or only its read-only preflight.

Steps (each reported, a failing step does not stop the next):
  smi       llmops.vllm.nvidia_smi_info (run by Ansible like the roles run it) compared with `nvidia-smi -q`:
            driver and CUDA version, and per GPU name, UUID, PCI bus id, VBIOS, total memory, MIG mode.
  driver    llmops.vllm.nvidia_driver in check mode, with the branch and kernel-module flavor of the
            installed driver: detection must find the GPUs and the loaded module, decide "at branch"
            (nothing to install) and verify with nvidia-smi (branch, GPU count, compute capability).
  vllm_gpu  llmops.vllm.vllm_gpu's preflight: a GPU, compute capability, and the driver's CUDA against
            the CUDA of the wheels (--torch-backend / --wheel-cuda), without installing anything.
  sandbox   only with systemd and as root: vllm_service's unit rendered for a GPU host; its root
            ExecStartPre= lines run, then a CUDA probe runs under `systemd-run` with the unit's sandbox
            settings (NoNewPrivileges=, ProtectKernelModules=, DevicePolicy=/DeviceAllow=, ...): the
            host's PyTorch if --python has it, else the driver's libcuda through ctypes (context +
            1 MiB allocation). The same probe also runs without the sandbox, to tell the two apart.

Writes one JSON file (--out, default gpu-check-result.json) and prints a summary; exit code 0 when
no step failed (skipped steps do not fail).

Against the stand-ins (no GPU; what the tests do): --nvidia-smi <stand-in>, --sysfs-root <fake sysfs
with an NVIDIA PCI device>, --proc-version-file <fake /proc/driver/nvidia/version>.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLAYBOOK = os.path.join(HERE, 'gpu-check.yml')
WHEELS = os.path.join(HERE, 'wheels')

_VERSION_RE = re.compile(r'^\d+(\.\d+)+$')

# The whole check stays inside 8 minutes: every command gets what is left of this budget.
BUDGET_S = 450
DEADLINE = [time.time() + BUDGET_S]


def time_left(cap):
    return max(5, min(cap, DEADLINE[0] - time.time()))


def run(cmd, cap, **kwargs):
    """subprocess.run with the remaining budget; a timeout becomes rc 124 with what was printed."""
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=time_left(cap), check=False, **kwargs)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors='replace') if isinstance(exc.stdout, bytes) else (exc.stdout or '')
        return subprocess.CompletedProcess(cmd, 124, out + '\n(timed out: the check has %d s in all)' % BUDGET_S)


# The CUDA probe: the host's PyTorch when the interpreter has it, else libcuda via ctypes.
PROBE = r'''
import json, os, sys
out = {"uid": os.getuid(), "python": sys.executable}
try:
    import torch
except Exception as exc:
    torch = None
    out["torch"] = "not importable: %s" % exc
if torch is not None:
    out["via"] = "torch"
    out["torch"] = torch.__version__
    out["torch_cuda"] = torch.version.cuda
    try:
        out["available"] = torch.cuda.is_available()
        out["device_count"] = torch.cuda.device_count()
        x = torch.ones(1024, device="cuda")
        out["sum"] = float((x * 2).sum().item())
        out["ok"] = out["sum"] == 2048.0
    except Exception as exc:
        out["ok"] = False
        out["error"] = "%s: %s" % (type(exc).__name__, exc)
else:
    import ctypes
    out["via"] = "libcuda (ctypes)"
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        out["ok"] = False
        out["error"] = "no libcuda.so.1: %s" % exc
    else:
        def call(name, *args):
            rc = getattr(cuda, name)(*args)
            if rc != 0:
                msg = ctypes.c_char_p()
                cuda.cuGetErrorString(rc, ctypes.byref(msg))
                raise RuntimeError("%s -> %d %s" % (name, rc, (msg.value or b"").decode()))
        try:
            call("cuInit", 0)
            count, dev, ctx, ptr = ctypes.c_int(), ctypes.c_int(), ctypes.c_void_p(), ctypes.c_uint64()
            call("cuDeviceGetCount", ctypes.byref(count))
            out["device_count"] = count.value
            call("cuDeviceGet", ctypes.byref(dev), 0)
            call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), dev)
            call("cuCtxSetCurrent", ctx)
            call("cuMemAlloc_v2", ctypes.byref(ptr), ctypes.c_size_t(1 << 20))
            call("cuMemFree_v2", ptr)
            out["ok"] = True
        except Exception as exc:
            out["ok"] = False
            out["error"] = str(exc)
print("GPU-CHECK-PROBE " + json.dumps(out))
'''

# Unit settings that are the sandbox (the rest, e.g. ExecStart=, Restart=, is the server's own business).
SANDBOX_KEYS = ('NoNewPrivileges', 'PrivateTmp', 'ProtectSystem', 'ProtectHome', 'ProtectKernelTunables',
                'ProtectKernelModules', 'ProtectControlGroups', 'RestrictSUIDSGID', 'RestrictRealtime',
                'LockPersonality', 'DevicePolicy', 'DeviceAllow', 'PrivateDevices', 'CapabilityBoundingSet',
                'SystemCallFilter', 'MemoryDenyWriteExecute', 'RestrictNamespaces')


def is_version(value):
    return isinstance(value, str) and bool(_VERSION_RE.match(value.strip()))


# --- ansible-core: importable already, or unpacked from the staged wheels -------------------------

def ansible_pythonpath(workdir):
    """PYTHONPATH entries that make ansible-core importable (empty when it already is)."""
    try:
        import ansible  # noqa: F401  pylint: disable=unused-import
        return []
    except ImportError:
        pass
    wheels = sorted(glob.glob(os.path.join(WHEELS, '*.whl')))
    if not wheels:
        sys.exit('gpu_check: ansible-core is not importable and there are no wheels in %s '
                 '(run `make gpu-check-wheels` on a machine with PyPI access, then copy the repository)' % WHEELS)
    site = os.path.join(workdir, 'site')
    tag = 'cp%d%d' % sys.version_info[:2]
    os.makedirs(site)
    for wheel in wheels:
        name = os.path.basename(wheel)
        binary = re.search(r'-(cp\d+)-(cp\d+|abi3|none)-', name)
        if binary and binary.group(1) != tag and binary.group(2) != 'abi3':
            continue  # a binary wheel for another Python
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    return [site]


def collections_root(workdir):
    root = os.path.join(workdir, 'collections')
    os.makedirs(os.path.join(root, 'ansible_collections', 'llmops'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'llmops', 'vllm'))
    return root


def run_step(args, env, step, extra, check=False, timeout=150):
    cmd = [sys.executable, '-m', 'ansible.cli.playbook', PLAYBOOK, '-i', 'localhost,',
           '-e', 'ansible_python_interpreter=%s' % sys.executable, '-e', 'gpu_check_step=%s' % step,
           '-e', json.dumps(dict(extra, gpu_check_out=args.workdir, gpu_check_collection=REPO,
                                 gpu_check_nvidia_smi=args.nvidia_smi or ''))]
    if check:
        cmd.append('--check')
    started = time.time()
    proc = run(cmd, timeout, env=env)
    return proc, round(time.time() - started, 1)


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


# --- step smi: nvidia_smi_info vs nvidia-smi -q ----------------------------------------------------

def parse_q(text):
    """Top-level versions and per-GPU values of `nvidia-smi -q`."""
    top, gpus, gpu, section = {}, [], None, None
    for line in (text or '').splitlines():
        if not line.strip() or line.startswith('='):
            continue
        indent = len(line) - len(line.lstrip(' '))
        header = re.match(r'^GPU ([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-9A-Fa-f]+)\s*$', line)
        key, sep, value = line.strip().partition(':')
        key, value = key.strip(), value.strip()
        if header:
            gpu = {'pci_bus_id': header.group(1)}
            gpus.append(gpu)
            section = None
            continue
        if indent == 0 and sep:
            top[key] = value
        elif gpu is not None and indent == 4:
            section = key if not sep or not value else None
            if sep and value:
                gpu[key] = value
        elif gpu is not None and indent == 8 and section and sep:
            gpu['%s/%s' % (section, key)] = value
    return top, gpus


def compare_smi(data):
    info = data['info']
    facts = info.get('ansible_facts')
    result = {'compared': [], 'mismatches': []}
    if not facts or not facts.get('nvidia_smi_present'):
        result['status'] = 'fail'
        result['error'] = info.get('msg') or 'nvidia_smi_info found no nvidia-smi'
        return result
    top, qgpus = parse_q(data['q_stdout'])
    if data['q_rc'] != 0 or not qgpus:
        result['status'] = 'fail'
        result['error'] = 'nvidia-smi -q failed (rc=%s): %s' % (data['q_rc'], (data['q_stdout'] or data['q_msg'])[:500])
        return result

    def same(what, ours, theirs):
        entry = {'what': what, 'nvidia_smi_info': ours, 'nvidia-smi -q': theirs}
        result['compared'].append(entry)
        if ours != theirs:
            result['mismatches'].append(entry)

    # Versions: the first of these -q keys that holds a version number (610+ renamed them).
    for fact, keys in (('nvidia_driver_version', ('KMD Version', 'Driver Version')),
                       ('nvidia_cuda_version', ('CUDA UMD Version', 'CUDA Version'))):
        theirs = next((top[k] for k in keys if is_version(top.get(k))), None)
        if theirs is None:
            result['compared'].append({'what': fact, 'nvidia_smi_info': facts[fact],
                                       'nvidia-smi -q': 'no version number in %s' % ' / '.join(keys)})
        else:
            same(fact, facts[fact], theirs)
    same('GPU count', facts['nvidia_gpu_count'], len(qgpus))
    by_bus = dict((g['pci_bus_id'], g) for g in qgpus)
    for gpu in facts['nvidia_gpus']:
        q = by_bus.get(gpu['pci_bus_id'], {})
        label = 'GPU %s ' % gpu['index']
        same(label + 'name', gpu['name'], q.get('Product Name'))
        same(label + 'uuid', gpu['uuid'], q.get('GPU UUID'))
        same(label + 'vbios', gpu['vbios_version'], q.get('VBIOS Version'))
        total = q.get('FB Memory Usage/Total', '')
        same(label + 'memory total MiB', gpu['memory_total_mib'],
             int(total.split()[0]) if total.split() and total.split()[0].isdigit() else None)
        mig = q.get('MIG Mode/Current')
        same(label + 'MIG mode', gpu['mig_mode'], None if mig in (None, 'N/A') else mig)
    result['status'] = 'ok' if not result['mismatches'] else 'fail'
    result['facts'] = {k: facts[k] for k in ('nvidia_driver_version', 'nvidia_cuda_version', 'nvidia_gpu_count')}
    return result


# --- step sandbox ----------------------------------------------------------------------------------

def unit_service_lines(path):
    lines, in_service = [], False
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line.startswith('['):
                in_service = line == '[Service]'
            elif in_service and line and not line.startswith('#') and '=' in line:
                lines.append(tuple(part.strip() for part in line.split('=', 1)))
    return lines


def root_pre_commands(lines):
    """ExecStartPre= lines that run as root outside the sandbox ('+'); prefix '-' = may fail."""
    commands = []
    for key, value in lines:
        if key != 'ExecStartPre':
            continue
        prefix = re.match(r'^[-+@:!]*', value).group(0)
        if '+' in prefix:
            commands.append((value[len(prefix):].split(), '-' in prefix))
    return commands


def probe_python(args):
    if args.python:
        return args.python
    for candidate in sorted(glob.glob('/opt/vllm/venvs/*/bin/python')) + ['/opt/vllm/venv/bin/python']:
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


def parse_probe(output):
    for line in output.splitlines():
        if line.startswith('GPU-CHECK-PROBE '):
            return json.loads(line[len('GPU-CHECK-PROBE '):])
    return None


def sandbox_step(args, unit_path):
    result = {'unit': unit_path}
    lines = unit_service_lines(unit_path)
    sandbox = [(k, v) for k, v in lines if k in SANDBOX_KEYS]
    result['properties'] = ['%s=%s' % kv for kv in sandbox]
    result['root_pre'] = [' '.join(c) for c, dummy in root_pre_commands(lines)]
    python = probe_python(args)
    result['probe_python'] = python
    user = args.probe_user
    cmd = ['systemd-run', '--wait', '--pipe', '--collect', '--quiet', '--unit', 'llmops-gpu-check-probe-%d' % os.getpid(),
           '-p', 'User=%s' % user] + [x for kv in sandbox for x in ('-p', '%s=%s' % kv)] + [python, '-c', PROBE]
    result['command'] = ' '.join(cmd[:-1]) + ' <probe>'
    if not os.path.isdir('/run/systemd/system'):
        result['status'] = 'skipped'
        result['why'] = 'systemd is not running here (no /run/systemd/system)'
        return result
    if os.geteuid() != 0:
        result['status'] = 'skipped'
        result['why'] = 'not root: systemd-run of a system unit and the root ExecStartPre= lines need root'
        return result
    pre = []
    for command, may_fail in root_pre_commands(lines):
        if not os.path.exists(command[0]):
            pre.append({'command': ' '.join(command), 'rc': None, 'note': 'missing' + (' (allowed: "-")' if may_fail else '')})
            continue
        proc = run(command, 60)
        pre.append({'command': ' '.join(command), 'rc': proc.returncode, 'output': proc.stdout[-500:]})
    result['root_pre_results'] = pre
    plain = run([python, '-c', PROBE], 120)
    result['probe_unsandboxed'] = parse_probe(plain.stdout) or {'ok': False, 'error': plain.stdout[-1000:]}
    boxed = run(cmd, 120)
    result['probe_sandboxed'] = parse_probe(boxed.stdout) or {'ok': False, 'error': boxed.stdout[-1000:], 'rc': boxed.returncode}
    if result['probe_sandboxed'].get('ok'):
        result['status'] = 'ok'
    elif not result['probe_unsandboxed'].get('ok'):
        result['status'] = 'no-cuda'
        result['why'] = 'CUDA does not work here even without the sandbox (no GPU/driver/PyTorch?)'
    else:
        result['status'] = 'fail'
        result['why'] = 'CUDA works without the sandbox but not under the unit\'s sandbox settings'
    return result


# --- main ------------------------------------------------------------------------------------------

WOULD_COMPARE = """On a real NVIDIA host this check compares / proves:
  smi       nvidia_smi_info's driver/CUDA versions and every GPU's name, UUID, VBIOS, memory, MIG mode
            against `nvidia-smi -q` (610+ drivers: KMD / CUDA UMD versions)
  driver    nvidia_driver in check mode: GPUs found in sysfs, the loaded module's version and flavor,
            "at branch" (nothing to install), nvidia-smi verification (branch, GPUs, compute capability)
  vllm_gpu  vllm_gpu's preflight: GPUs, compute capability >= 7.0, driver CUDA >= the wheels' CUDA
  sandbox   a CUDA context + allocation (PyTorch or libcuda) under vllm_service's GPU unit sandbox
            (root ExecStartPre= nvidia-modprobe first), and the same probe without the sandbox"""


def driver_facts_from_proc(path):
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        return None, None
    match = re.search(r'Kernel Module(?: for \S+)?\s+([0-9]+)\.[0-9.]+', text)
    if not match:
        return None, None
    return match.group(1), ('open' if 'Open Kernel Module' in text else 'proprietary')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--out', default='gpu-check-result.json')
    parser.add_argument('--nvidia-smi', default='', help='nvidia-smi to use (default: looked up like the roles do)')
    parser.add_argument('--sysfs-root', default='/sys')
    parser.add_argument('--proc-version-file', default='/proc/driver/nvidia/version')
    parser.add_argument('--torch-backend', default='auto', help='vllm_gpu_torch_backend for the preflight (cu128, cu130, auto)')
    parser.add_argument('--wheel-cuda', default='', help='vllm_gpu_wheel_cuda (default: the role default)')
    parser.add_argument('--python', default='', help='Python with PyTorch for the CUDA probe (default: /opt/vllm venvs, else this one)')
    parser.add_argument('--probe-user', default='nobody', help='User= of the sandboxed probe')
    parser.add_argument('--skip', action='append', default=[], choices=['smi', 'driver', 'vllm_gpu', 'sandbox'])
    args = parser.parse_args(argv)

    started = time.time()
    DEADLINE[0] = started + BUDGET_S
    report = {'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'host': os.uname().nodename,
              'python': sys.version.split()[0], 'steps': {}}
    with tempfile.TemporaryDirectory(prefix='gpu-check-') as workdir:
        args.workdir = workdir
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(ansible_pythonpath(workdir) + [p for p in [env.get('PYTHONPATH')] if p])
        config = os.path.join(workdir, 'ansible.cfg')
        with open(config, 'w') as handle:
            handle.write('[defaults]\n')
        env.update(ANSIBLE_COLLECTIONS_PATH=collections_root(workdir), ANSIBLE_CONFIG=config,
                   ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='false',
                   ANSIBLE_LOCAL_TEMP=os.path.join(workdir, 'tmp'), ANSIBLE_REMOTE_TEMP=os.path.join(workdir, 'tmp'))
        steps = report['steps']

        def step(name, extra, check, handler):
            if name in args.skip:
                steps[name] = {'status': 'skipped', 'why': '--skip'}
                return
            proc, seconds = run_step(args, env, name, extra, check=check)
            path = os.path.join(workdir, name + '.json' if name != 'unit' else 'vllm-gpu.service')
            try:
                steps[name] = handler(path)
            except (OSError, ValueError) as exc:
                steps[name] = {'status': 'fail', 'error': 'no result (%s); ansible-playbook said: %s' % (exc, proc.stdout[-3000:])}
            steps[name]['seconds'] = seconds
            if proc.returncode != 0 and steps[name].get('status') != 'fail':
                steps[name].update(status='fail', error='ansible-playbook rc=%d: %s' % (proc.returncode, proc.stdout[-3000:]))

        step('smi', {}, False, lambda path: compare_smi(read_json(path)))

        branch, flavor = driver_facts_from_proc(args.proc_version_file)
        driver_vars = dict(nvidia_driver_sysfs_root=args.sysfs_root, nvidia_driver_proc_version_file=args.proc_version_file,
                           nvidia_driver_nvidia_smi=args.nvidia_smi, nvidia_driver_required=True)
        if branch:
            driver_vars.update(nvidia_driver_branch=branch, nvidia_driver_kernel_modules=flavor)

        def driver_result(path):
            data = read_json(path)
            res = data.get('result') or {}
            ok = (data.get('ok') and data.get('check_mode') and not res.get('install_needed') and res.get('verified'))
            out = {'status': 'ok' if ok else 'fail', 'branch': branch, 'kernel_modules': flavor, 'details': data}
            if not branch:
                out['error'] = 'no loaded NVIDIA kernel module in %s' % args.proc_version_file
            return out
        step('driver', driver_vars, True, driver_result)

        gpu_vars = dict(vllm_gpu_nvidia_smi=args.nvidia_smi, vllm_gpu_torch_backend=args.torch_backend)
        if args.wheel_cuda:
            gpu_vars['vllm_gpu_wheel_cuda'] = args.wheel_cuda

        def gpu_result(path):
            data = read_json(path)
            return {'status': 'ok' if data.get('ok') and data.get('checked') else 'fail', 'details': data}
        step('vllm_gpu', gpu_vars, True, gpu_result)

        if 'sandbox' in args.skip:
            steps['sandbox'] = {'status': 'skipped', 'why': '--skip'}
        else:
            def unit_result(path):
                if not os.path.exists(path):
                    raise OSError('%s was not rendered' % path)
                return sandbox_step(args, path)
            step('unit', {}, False, unit_result)
            steps['sandbox'] = steps.pop('unit')

    report['seconds'] = round(time.time() - started, 1)
    report['ok'] = all(s.get('status') in ('ok', 'skipped', 'no-cuda') for s in steps.values())
    report['would_compare_on_a_real_gpu'] = WOULD_COMPARE
    with open(args.out, 'w') as handle:
        json.dump(report, handle, indent=2)
        handle.write('\n')
    print(WOULD_COMPARE)
    print()
    for name, res in steps.items():
        print('%-9s %-8s %s' % (name, res.get('status'), res.get('error') or res.get('why') or ''))
        for entry in res.get('compared', []):
            mark = '!=' if entry in res.get('mismatches', []) else '=='
            print('            %-22s %s %s %s' % (entry['what'], entry['nvidia_smi_info'], mark, entry['nvidia-smi -q']))
    print('\nresult: %s (%s s) -> %s' % ('ok' if report['ok'] else 'FAILED', report['seconds'], args.out))
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
