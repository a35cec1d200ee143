"""The options tables are the single source: .env.tmpl, the README and run.sh --help agree with
them, and every environment variable the server reads is in them (and documented), and no more."""
import ast
import re
import subprocess
import sys

from conftest import ROOT, RUN_SH

sys.path.insert(0, str(ROOT))
from app.options import ENV_VARS, OPTIONS, render_env_template, render_markdown_table

# The variables the server understands: its own MLFLOW_* and those of the stores' SDKs.
VARIABLE = r"(?:MLFLOW|AWS|AZURE|GOOGLE|STORAGE|SSH)_[A-Z0-9_]*[A-Z0-9]"
TABLE = {o.env for o in OPTIONS} | {v.env for v in ENV_VARS}
APP = ROOT / "app"


def _is_os_environ(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", "") == "os"


# string literals of app/ shaped like a variable's name that are not one
NOT_VARIABLES = {"MLFLOW_EXPERIMENT"}  # a trace location's type (a proto enum value)


def _source_variables(skip_options_module: bool) -> set[str]:
    """Variable names our code reads: string literals of app/ that are a variable's whole name
    (but NOT_VARIABLES), and $NAME / ${NAME} in run.sh."""
    names = set(re.findall(rf"\$\{{?({VARIABLE})", RUN_SH.read_text()))
    for path in APP.rglob("*.py"):
        if skip_options_module and path == APP / "options.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(VARIABLE, node.value):
                names.add(node.value)
    return names - NOT_VARIABLES


def test_env_template_is_generated_from_the_options_table():
    assert (ROOT / ".env.tmpl").read_text() == render_env_template(), \
        "regenerate with: python -m app options env > .env.tmpl"


def test_readme_table_is_generated_from_the_options_table():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- options:begin -->\n(.*?)<!-- options:end -->", readme, re.DOTALL).group(1)
    assert table == render_markdown_table(), "regenerate with: python -m app options markdown"


def test_every_variable_documented_is_in_the_table_and_back():
    template = set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", (ROOT / ".env.tmpl").read_text(), re.MULTILINE))
    assert template == TABLE
    table_rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    readme = set(re.findall(rf"\b{VARIABLE}\b", "\n".join(table_rows)))
    assert readme == TABLE, f"in the README's tables only: {readme - TABLE}; missing there: {TABLE - readme}"


def test_every_variable_the_code_reads_is_in_the_table():
    unknown = _source_variables(skip_options_module=False) - TABLE
    assert not unknown, f"read in app/ or run.sh but not in app/options.py: {sorted(unknown)}"


def test_every_variable_in_the_table_is_read():
    """Options are read by the command line; the rest by our code unless the table names an SDK."""
    ours = {v.env for v in ENV_VARS if not v.sdk}
    unread = ours - _source_variables(skip_options_module=True)
    assert not unread, f"in app/options.py but read nowhere: {sorted(unread)}"


def test_environment_is_read_only_through_the_options_module():
    """So that no read escapes the table: os.environ and os.getenv only in app/options.py
    (assigning a variable for a library, e.g. KRB5CCNAME, is not a read)."""
    reads = []
    for path in APP.rglob("*.py"):
        if path == APP / "options.py":
            continue
        tree = ast.parse(path.read_text())
        writes = {id(target.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  for target in node.targets if isinstance(target, ast.Subscript)}
        for node in ast.walk(tree):
            getenv = isinstance(node, ast.Attribute) and node.attr == "getenv" and getattr(node.value, "id", "") == "os"
            if getenv or (_is_os_environ(node) and id(node) not in writes):
                reads.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not reads, f"read the environment through app.options.environment: {reads}"


def test_run_sh_help_lists_every_flag_and_variable():
    help_text = subprocess.run([str(RUN_SH), "--help"], capture_output=True, text=True, check=True).stdout
    for option in OPTIONS:
        assert option.flag in help_text, option.flag
        assert option.env in help_text, option.env
