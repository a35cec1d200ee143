"""The options table is the single source: .env.tmpl, the README and run.sh --help agree with it."""
import re
import subprocess
import sys

from conftest import ROOT, RUN_SH

sys.path.insert(0, str(ROOT))
from app.options import OPTIONS, render_env_template, render_markdown_table  # noqa: E402


def test_env_template_is_generated_from_the_options_table():
    assert (ROOT / ".env.tmpl").read_text() == render_env_template(), \
        "regenerate with: python -m app options env > .env.tmpl"


def test_readme_table_is_generated_from_the_options_table():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- options:begin -->\n(.*?)<!-- options:end -->", readme, re.S).group(1)
    assert table == render_markdown_table(), "regenerate with: python -m app options markdown"


def test_every_variable_documented_is_one_the_server_reads():
    documented = set(re.findall(r"^# (MLFLOW_\w+)=", (ROOT / ".env.tmpl").read_text(), re.M))
    assert documented == {o.env for o in OPTIONS}


def test_run_sh_help_lists_every_flag_and_variable():
    help_text = subprocess.run([str(RUN_SH), "--help"], capture_output=True, text=True, check=True).stdout
    for option in OPTIONS:
        assert option.flag in help_text, option.flag
        assert option.env in help_text, option.env
