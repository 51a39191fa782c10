"""The agreement checks catch disagreements: each test breaks one thing in a small compose snippet (or Dockerfile)
over a tiny fake project, and the matching check must report it (and report nothing for the intact version)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .agreement import (Invocation, Project, check_dependencies, check_entry_points, check_environment,
                        check_image, check_issuers, check_ports, check_urls, dockerignore_excludes, interpolate,
                        load_compose, parse_config_table, parse_invocations)

CONFIG_SOURCE = '''"""Settings.

=====================  ===============  ======================
variable               meaning          default
=====================  ===============  ======================
APP_TABLE              the table        required
APP_PROVIDER_URL       provider         https://api.example.com
APP_REDIS_URL          redis            redis://127.0.0.1:6379/0
AWS_DEFAULT_REGION/AWS_REGION  region   us-east-1
=====================  ===============  ======================
"""
import os


class StackConfig:
    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        return env.get("APP_TABLE", "")
'''

FILES = {
    "pyproject.toml": textwrap.dedent("""\
        [project]
        name = "demo"
        dependencies = []
        [project.scripts]
        demo = "app.cli:main"
        [tool.setuptools.packages.find]
        include = ["app*", "stack*"]
    """),
    "stack/__init__.py": "",
    "stack/config.py": CONFIG_SOURCE,
    "stack/aws_clients.py": 'ENDPOINT_ENV_SUFFIX = {"sqs": "SQS"}\n',
    "stack/bootstrap.py": "from stack.config import StackConfig\nfrom stack import aws_clients\n"
                          "if __name__ == '__main__':\n    StackConfig.from_env()\n",
    "app/__init__.py": "",
    "app/cli.py": "def main():\n    return 0\n",
    "app/server/__init__.py": "",
    "app/server/__main__.py": "import os\nfrom app.server.core import run\nfrom stack.config import StackConfig\n"
                              "StackConfig.from_env()\nSECRET = os.environ['APP_SECRET']\n",
    "app/server/core.py": "import os\nfrom app import helpers\nLEVEL = os.environ.get('APP_LOG_LEVEL', 'INFO')\n"
                          "def run():\n    pass\n",
    "app/emu/__init__.py": "",
    "app/emu/__main__.py": "import sys\n",
    "app/helpers.py": "import os\nTOKEN = os.environ['APP_DEEP_TOKEN']\nos.environ['APP_WRITTEN'] = '1'\n",
}

GOOD_COMPOSE = """
x-env: &env
  APP_TABLE: t
  APP_PROVIDER_URL: http://fake:9001
  APP_SECRET: s
  APP_DEEP_TOKEN: d
  AWS_ACCESS_KEY_ID: x
  AWS_SECRET_ACCESS_KEY: x
  AWS_ENDPOINT_URL_SQS: http://aws-sqs:4566
services:
  emu-a:
    build: .
    profiles: [moto]
    command: [python, -m, app.emu, --port, "4566"]
    environment: *env
    networks: {default: {aliases: [aws-sqs]}}
    healthcheck: {test: [CMD, "true"]}
  emu-b:
    image: localstack/localstack:4.14.0
    profiles: [localstack]
    networks: {default: {aliases: [aws-sqs]}}
  fake:
    build: .
    hostname: fake
    command: [python, -m, app.emu, --host, fake, --port, "9001"]
    environment: {<<: *env, HEALTH: "http://fake:9001/health"}
    healthcheck: {test: [CMD, "true"]}
    ports: ["127.0.0.1:9001:9001"]
  bootstrap:
    build: .
    restart: "no"
    command: [sh, -c, "for i in 1 2; do python -m stack.bootstrap && exit 0; sleep 1; done"]
    environment: *env
  server:
    build: .
    command: [python, -m, app.server, --host, 0.0.0.0, --port, "8080"]
    environment: {<<: *env, HEALTH: "http://127.0.0.1:8080/health"}
    depends_on:
      bootstrap: {condition: service_completed_successfully}
      fake: {condition: service_healthy}
    healthcheck: {test: [CMD, "true"]}
    ports: ["${BIND:-127.0.0.1}:8080:8080"]
  tool:
    build: .
    command: [demo, --verbose]
"""


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Project.read(tmp_path)


def fake_help(inv: Invocation) -> str | None:
    known = {"app.server": "--host HOST --port PORT", "app.emu": "--host HOST --port PORT", "stack.bootstrap": "--json", "demo": "--verbose"}
    return known.get(inv.target)


def broken(replace: str, by: str) -> str:
    assert replace in GOOD_COMPOSE, replace
    return GOOD_COMPOSE.replace(replace, by)


def test_the_intact_snippet_agrees(project: Project) -> None:
    services = load_compose(GOOD_COMPOSE)
    assert check_entry_points(services, project, fake_help) == []
    assert check_environment(services, project) == []
    assert check_urls(services, (frozenset({"moto"}), frozenset({"localstack"}))) == []
    assert check_dependencies(services, project) == []
    assert check_ports(services, (frozenset({"moto"}), frozenset({"localstack"}))) == []


def test_the_config_table_is_parsed_with_required_and_split_names() -> None:
    table = parse_config_table(CONFIG_SOURCE)
    assert table["APP_TABLE"] == "required"
    assert table["APP_PROVIDER_URL"] == "https://api.example.com"
    assert table["AWS_DEFAULT_REGION"] == table["AWS_REGION"] == "us-east-1"


def test_a_missing_module_a_missing_script_and_an_unknown_flag_are_caught(project: Project) -> None:
    services = load_compose(broken("[python, -m, app.server, --host, 0.0.0.0,", "[python, -m, app.servr, --host, 0.0.0.0,"))
    assert any("app.servr has no __main__" in v.message for v in check_entry_points(services, project, fake_help))
    services = load_compose(broken("[demo, --verbose]", "[demoo, --verbose]"))
    assert any("not a console script" in v.message for v in check_entry_points(services, project, fake_help))
    services = load_compose(broken("--host, 0.0.0.0, --port", "--bind, 0.0.0.0, --port"))
    assert [v.subject for v in check_entry_points(services, project, fake_help) if v.rule == "flag"] == \
        ["python -m app.server"]


def test_a_python_c_snippet_importing_a_missing_name_is_caught(project: Project) -> None:
    services = load_compose(broken("[demo, --verbose]", "[python, -c, 'from app.server.core import start']"))
    violations = check_entry_points(services, project, fake_help)
    assert [v.subject for v in violations] == ["app.server.core.start"]


def test_a_variable_read_without_default_deep_in_the_imports_must_be_set(project: Project) -> None:
    services = load_compose(broken("  APP_DEEP_TOKEN: d\n", ""))
    violations = check_environment(services, project)
    assert {v.subject for v in violations} == {"APP_DEEP_TOKEN"}
    assert "APP_WRITTEN" not in {v.subject for v in violations}      # an assignment is not a read


def test_required_config_and_defaults_reaching_the_internet_must_be_set_for_config_readers(project: Project) -> None:
    services = load_compose(broken("  APP_TABLE: t\n  APP_PROVIDER_URL: http://fake:9001\n", ""))
    subjects = {(v.where, v.subject) for v in check_environment(services, project)}
    assert ("server", "APP_TABLE") in subjects and ("server", "APP_PROVIDER_URL") in subjects
    assert ("bootstrap", "APP_TABLE") in subjects
    assert not any(s == "APP_REDIS_URL" for _, s in subjects)          # loopback default: fine


def test_an_unset_aws_endpoint_and_a_misspelled_variable_are_caught(project: Project) -> None:
    services = load_compose(broken("  AWS_ENDPOINT_URL_SQS: http://aws-sqs:4566\n",
                                   "  AWS_ENDPOINT_URL_SQSS: http://aws-sqs:4566\n  SYNCWELL_TABLENAME: x\n"))
    project.config_table["SYNCWELL_TABLE_NAME"] = "required"
    subjects = {v.subject for v in check_environment(services, project)}
    assert {"AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SQSS", "SYNCWELL_TABLENAME"} <= subjects


def test_a_url_to_a_wrong_port_an_unknown_host_or_a_missing_alias_is_caught() -> None:
    profiles = (frozenset({"moto"}), frozenset({"localstack"}))
    wrong_port = load_compose(broken("APP_PROVIDER_URL: http://fake:9001", "APP_PROVIDER_URL: http://fake:9002"))
    assert any("listens on [9001], not 9002" in v.message for v in check_urls(wrong_port, profiles))
    unknown = load_compose(broken("APP_PROVIDER_URL: http://fake:9001", "APP_PROVIDER_URL: http://fak:9001"))
    assert any("host 'fak' is no service" in v.message for v in check_urls(unknown, profiles))
    no_alias = load_compose(broken("    profiles: [localstack]\n    networks: {default: {aliases: [aws-sqs]}}",
                                   "    profiles: [localstack]"))
    assert any("localstack" in v.message and "aws-sqs" in v.message for v in check_urls(no_alias, profiles))
    self_port = load_compose(broken('HEALTH: "http://127.0.0.1:8080/health"', 'HEALTH: "http://127.0.0.1:8081/health"'))
    assert any("not a port this service listens on" in v.message for v in check_urls(self_port, profiles))


def test_binding_a_name_the_container_does_not_carry_is_caught() -> None:
    services = load_compose(broken("    hostname: fake\n", ""))
    assert any("binds --host fake" in v.message for v in check_urls(services, (frozenset({"moto"}),)))


def test_a_dependency_on_a_profiled_service_or_a_missing_bootstrap_wait_is_caught(project: Project) -> None:
    services = load_compose(broken("      fake: {condition: service_healthy}", "      emu-a: {condition: service_healthy}"))
    assert any("only enabled with profiles ['moto']" in v.message for v in check_dependencies(services, project))
    services = load_compose(broken("      bootstrap: {condition: service_completed_successfully}\n", ""))
    assert any("does not wait for the bootstrap" in v.message for v in check_dependencies(services, project))
    services = load_compose(broken('    restart: "no"\n', "    restart: unless-stopped\n"))
    assert any("instead of being a one-shot" in v.message for v in check_dependencies(services, project))


def test_a_duplicate_host_port_is_caught() -> None:
    services = load_compose(broken('ports: ["127.0.0.1:9001:9001"]', 'ports: ["127.0.0.1:8080:9001"]'))
    assert [v.subject for v in check_ports(services, (frozenset(),))] == ["8080"]


def test_issuers_that_differ_from_the_identity_announcement_are_caught() -> None:
    services = load_compose(broken("  APP_TABLE: t\n", '  APP_TABLE: t\n  SYNCWELL_JWT_ISSUERS: \'[{"name": "a"}]\'\n'))
    assert check_issuers(services, [{"name": "a"}]) == []
    assert check_issuers(services, [{"name": "b"}])


DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
COPY pyproject.toml ./
RUN python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb')))" > r.txt && pip install -r r.txt
COPY app ./app
COPY stack ./stack
RUN pip install --no-deps -e .
USER app
"""


def test_the_image_must_copy_imported_packages_after_the_dependency_layer_and_drop_root(project: Project) -> None:
    services = load_compose(GOOD_COMPOSE)
    assert check_image(DOCKERFILE, "tests\n", services, project) == []
    assert {v.subject for v in check_image(DOCKERFILE.replace("COPY stack ./stack\n", ""), "", services,
                                           project)} == {"stack"}
    early = DOCKERFILE.replace("COPY pyproject.toml ./\n", "COPY pyproject.toml ./\nCOPY app ./app\n")
    assert {v.subject for v in check_image(early, "", services, project)} == {"layers"}
    assert {v.subject for v in check_image(DOCKERFILE.replace("USER app\n", ""), "", services, project)} == {"USER"}
    assert {v.subject for v in check_image(DOCKERFILE, "**/app\n", services, project)} == {"app"}


def test_dockerignore_matching_follows_last_match_wins() -> None:
    patterns = ["*.md", "!README.md", "**/__pycache__", "tests"]
    assert dockerignore_excludes(patterns, "NOTES.md")
    assert not dockerignore_excludes(patterns, "README.md")
    assert not dockerignore_excludes(patterns, "sim/beta/FORMAT.md")     # "*.md" is the root only
    assert dockerignore_excludes(patterns, "stack/api/__pycache__/x.pyc")
    assert dockerignore_excludes(patterns, "tests/compose/agreement.py")


def test_commands_are_found_inside_shell_scripts_and_interpolation_takes_defaults() -> None:
    invocations = parse_invocations(["sh", "-c", "for i in 1; do python -m stack.bootstrap --json; code=$?; done"])
    assert invocations == [Invocation("module", "stack.bootstrap", ("--json",))]
    assert interpolate("${A:-x}:${B-y}:${C}:$$HOME") == "x:y::$HOME"


def test_staging_follows_copy_semantics_and_dockerignore(project: Project, tmp_path: Path) -> None:
    from .agreement import stage_image_files

    dest = tmp_path / "image"
    stage_image_files(project.root, DOCKERFILE, "**/helpers.py\n", dest)
    assert (dest / "pyproject.toml").is_file()
    assert (dest / "app" / "server" / "__main__.py").is_file()        # a directory's contents, into ./app
    assert (dest / "stack" / "config.py").is_file()
    assert not (dest / "app" / "helpers.py").exists()                  # excluded by .dockerignore
