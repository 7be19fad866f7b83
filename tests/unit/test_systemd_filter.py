"""The systemd quoting filters: what a unit file needs so argv survives systemd's parsing."""

from ansible_collections.llmops.vllm.plugins.filter.systemd_env_value import systemd_env_value
from ansible_collections.llmops.vllm.plugins.filter.systemd_exec import systemd_exec


def test_exec_quotes_every_word():
    assert systemd_exec(["/opt/v/bin/vllm", "serve", "--port", 8000]) == '"/opt/v/bin/vllm" "serve" "--port" "8000"'


def test_exec_escapes_specifiers_variables_and_quotes():
    line = systemd_exec(['--chat-template', 'a "b" %h $HOME \\x'])
    assert line == '"--chat-template" "a \\"b\\" %%h $$HOME \\\\x"'


def test_exec_keeps_specifiers_only_in_the_words_given_for_them():
    line = systemd_exec(["vllm", "--chat-template", "%d"], ["--ssl-keyfile", "%d/tls.key"])
    assert line == '"vllm" "--chat-template" "%%d" "--ssl-keyfile" "%d/tls.key"'
    assert systemd_exec(["vllm"], []) == systemd_exec(["vllm"]) == '"vllm"'


def test_env_value_escapes_quotes_and_newlines():
    assert systemd_env_value('to"k\nen') == '"to\\"k\\nen"'
