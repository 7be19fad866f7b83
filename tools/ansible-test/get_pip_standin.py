"""Stand-in for ansible-test's get-pip.py bootstrap script.

ansible-test downloads get-pip.py from ci-files.testing.ansible.com, which our machines cannot reach.
This does the same job from what is local: bootstrap pip with ensurepip, then `pip install` the
requested packages (get-pip's own --no-setuptools/--no-wheel flags are dropped: pip would reject them).
"""

import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
