"""The server plays' rolling batches (playbooks/cpu.yml, gpu.yml), as ansible-core computes them.

The play's own ``serial`` expression (read from the playbook file) is templated and split into
batches by ansible-core's code (Play.post_validate, PlaybookExecutor._get_serialized_batches)
for groups of every size: by default one host first, then a quarter at a time, so no change ever
restarts every server of a group of two or more at once.
"""

import os

import pytest
import yaml
from ansible.executor.playbook_executor import PlaybookExecutor
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.vars.manager import VariableManager

try:  # ansible-core 2.19
    from ansible._internal._templating._engine import TemplateEngine as _Templar
except ImportError:  # pragma: no cover
    from ansible.template import Templar as _Templar

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def batches(playbook, hosts, tmp_path, extra_vars=None):
    loader = DataLoader()
    # Ansible's loader: its strings are the playbook's (trusted) templates.
    (play_src,) = [p for p in loader.load_from_file(os.path.join(REPO, "playbooks", playbook), trusted_as_template=True)
                   if "serial" in p]
    inventory_file = tmp_path / "hosts.yml"
    inventory_file.write_text(yaml.safe_dump({"all": {"children": {"g": {"hosts": {
        "h%03d" % i: {"ansible_connection": "local"} for i in range(hosts)}}}}}))
    inventory = InventoryManager(loader=loader, sources=[str(inventory_file)])
    variables = VariableManager(loader=loader, inventory=inventory)
    variables._extra_vars = extra_vars or {}
    play = Play.load({"hosts": "g", "gather_facts": False, "serial": play_src["serial"], "tasks": []},
                     variable_manager=variables, loader=loader)
    play.post_validate(_Templar(loader=loader, variables=variables.get_vars(play=play)))
    executor = PlaybookExecutor.__new__(PlaybookExecutor)
    executor._inventory = inventory
    return [len(batch) for batch in executor._get_serialized_batches(play)]


@pytest.mark.parametrize("playbook", ["cpu.yml", "gpu.yml"])
@pytest.mark.parametrize("hosts, expected", [
    (1, [1]), (2, [1, 1]), (3, [1, 1, 1]), (4, [1, 1, 1, 1]), (8, [1, 2, 2, 2, 1]),
    (100, [1, 25, 25, 25, 24]),
])
def test_one_host_first_then_a_quarter_at_a_time(playbook, hosts, expected, tmp_path):
    assert batches(playbook, hosts, tmp_path) == expected


@pytest.mark.parametrize("value, expected", [("100%", [5]), (2, [2, 2, 1]), ([1, "50%"], [1, 2, 2])])
def test_vllm_rolling_serial_overrides_it(value, expected, tmp_path):
    assert batches("cpu.yml", 5, tmp_path, {"vllm_rolling_serial": value}) == expected
