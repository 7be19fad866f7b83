"""The systemd quoting filters: what a unit file needs so argv survives systemd's parsing."""

from ansible_collections.llmops.vllm.plugins.filter.systemd_env_value import systemd_env_value
from ansible_collections.llmops.vllm.plugins.filter.systemd_exec import systemd_exec


def test_exec_quotes_every_word():
    assert systemd_exec(["/opt/v/bin/vllm", "serve", "--port", 8000]) == '"/opt/v/bin/vllm" "serve" "--port" "8000"'


def test_exec_escapes_specifiers_variables_and_quotes():
    line = systemd_exec(['--chat-template', 'a "b" %h $HOME \\x'])
    assert line == '"--chat-template" "a \\"b\\" %%h $$HOME \\\\x"'


def test_env_value_escapes_quotes_and_newlines():
    assert systemd_env_value('to"k\nen') == '"to\\"k\\nen"'
