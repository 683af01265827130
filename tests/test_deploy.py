"""Deploy files: each target renders when chosen, passes a real validator, and keeps its rules.

Validators: hadolint and BuildKit's own parser (the `dockerfile` package) for the Dockerfile,
the Compose specification parser (`compose-spec`) for compose.yaml, `nginx -t` for the nginx
configuration, `kubernetes-validate`'s API schemas for the manifests, and yamllint for every
YAML file. No Docker engine or cluster runs here: images are not built, manifests not applied.
"""

import ast
import http.server
import ipaddress
import itertools
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile
import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose
from yamllint import config as yamllint_config
from yamllint import linter

from fastscaffold import options
from fastscaffold.errors import InvalidAnswerError
from fastscaffold.render import render
from tests import nginx

Answers = dict[str, Any]
Manifest = dict[str, Any]

TARGETS = list(options.question("deployment").choices or ())
KEEP_ALIVE_TIMEOUT = 75
DB_POOL_MAX = 10
POSTGRES_CONNECTIONS = 97  # max_connections 100, less 3 reserved for superusers
APP_IMAGE = ("app", "migrate", "worker")  # compose services that run the project's image
LEFTOVER_JINJA = ("{{", "{%", "{#")
K8S_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
LONGEST_NAME = "long-" + "n" * 45  # copier.yml allows 50 characters
YAMLLINT = yamllint_config.YamlLintConfig(
    "extends: default\n"
    "rules: {document-start: disable, line-length: {max: 100}}\n"  # the project's width
)
FORWARDED_HEADERS = {
    "Host",
    "X-Real-IP",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
}
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # Service and label names
DOCKER_DNS = "127.0.0.11"  # the resolver Docker gives containers on a user-defined network
NGINX_RESOLVE = (1, 27, 3)  # the first open-source nginx with `resolve` on upstream servers


def allowed(answers: Answers) -> bool:
    try:
        options.validate(answers)
    except InvalidAnswerError:
        return False
    return True


def combinations() -> list[Answers]:
    """Every database x task queue with every target it allows, docker alone, and no target."""
    servers = itertools.cycle(options.question("server").choices or ())
    combos: list[Answers] = []
    for database, task_queue in itertools.product(
        options.question("database").choices or (), options.question("task_queue").choices or ()
    ):
        answers = {"database": database, "task_queue": task_queue, "server": next(servers)}
        if (database, task_queue) == ("mongodb", "taskiq"):
            answers["project_name"] = LONGEST_NAME  # names and lines stay within limits
        targets = TARGETS if allowed({**answers, "deployment": TARGETS}) else TARGETS[:2]
        combos.append({**answers, "deployment": targets})
    combos += [
        {"deployment": ["docker"], "server": "gunicorn"},
        {"deployment": []},
        # Over PostgreSQL's connection budget: the guide must say so.
        {"database": "postgres", "deployment": TARGETS[:2], "workers": "8"},
    ]
    for combo in combos:
        assert allowed(options.with_defaults(combo)), combo
    return [options.with_defaults(combo) for combo in combos]


def combo_id(answers: Answers) -> str:
    targets = "+".join(answers["deployment"]) or "no-deploy"
    name = f"{answers['database']}-{answers['task_queue']}-{answers['server']}"
    long_name = "-longest-name" if answers["project_name"] == LONGEST_NAME else ""
    return f"{name}-w{answers['workers']}{long_name}-{targets}"


COMBOS = {combo_id(answers): answers for answers in combinations()}


class Project:
    """A rendered project and the answers it was rendered with."""

    def __init__(self, root: Path, answers: Answers) -> None:
        self.root, self.answers = root, answers
        self.targets: list[str] = answers["deployment"]
        self.database: str = answers["database"]
        self.taskiq = answers["task_queue"] == "taskiq"

    def text(self, path: str) -> str:
        return (self.root / path).read_text()

    def compose(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.text("compose.yaml"))
        return data

    def services(self) -> dict[str, Any]:
        services: dict[str, Any] = self.compose()["services"]
        return services

    def manifests(self) -> list[Manifest]:
        paths = sorted((self.root / "deploy" / "kubernetes").glob("*.yaml"))
        return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]

    def manifest(self, kind: str, component: str | None = None) -> Manifest:
        found = [
            m
            for m in self.manifests()
            if m["kind"] == kind
            and component in (None, m["metadata"]["labels"].get("app.kubernetes.io/component"))
        ]
        assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
        return found[0]

    def instructions(self) -> list[Any]:
        return list(dockerfile.parse_file(str(self.root / "Dockerfile")))


@pytest.fixture(scope="module")
def rendered() -> dict[str, Path]:
    """Projects rendered so far in this module, each once."""
    return {}


@pytest.fixture
def project(
    request: pytest.FixtureRequest,
    rendered: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Project:
    name: str = request.param
    if name not in rendered:
        rendered[name] = tmp_path_factory.mktemp("deploy") / "svc"
        render(COMBOS[name], rendered[name], overwrite=False)
    return Project(rendered[name], COMBOS[name])


def over(where: Callable[[Answers], bool] = lambda a: True) -> pytest.MarkDecorator:
    """Run a test on each combination whose answers satisfy `where`."""
    names = [name for name, answers in COMBOS.items() if where(answers)]
    assert names, "no combination matches"
    return pytest.mark.parametrize("project", names, indirect=True)


def with_target(
    target: str, where: Callable[[Answers], bool] = lambda a: True
) -> pytest.MarkDecorator:
    """Run a test on each combination that deploys with `target` and satisfies `where`."""
    return over(lambda a: target in a["deployment"] and where(a))


# --- the files each answer renders ---------------------------------------------------------


def expected_files(answers: Answers) -> set[str]:
    targets, files = answers["deployment"], set()
    if targets:
        files.add("DEPLOY.md")
    if "docker" in targets:
        files |= {"Dockerfile", ".dockerignore"}
    if "compose" in targets:
        files |= {"compose.yaml", "deploy/nginx.conf"}
    if "kubernetes" in targets:
        names = ["configmap", "deployment", "service", "hpa", "pdb"]
        names += ["migrate-job"] if answers["database"] != "none" else []
        names += ["worker-deployment"] if answers["task_queue"] == "taskiq" else []
        files |= {f"deploy/kubernetes/{name}.yaml" for name in names}
    return files


def deploy_files(root: Path) -> set[str]:
    top = {"DEPLOY.md", "Dockerfile", ".dockerignore", "compose.yaml"}
    files = {name for name in top if (root / name).exists()}
    return files | {p.relative_to(root).as_posix() for p in root.glob("deploy/**/*") if p.is_file()}


@over()
def test_deploy_files_match_the_chosen_targets(project: Project) -> None:
    assert deploy_files(project.root) == expected_files(project.answers)


@over()
def test_no_empty_directories(project: Project) -> None:
    assert not [p for p in project.root.rglob("*") if p.is_dir() and not any(p.iterdir())]


@over(lambda a: bool(a["deployment"]))
def test_deploy_files_are_clean_text(project: Project) -> None:
    for name in deploy_files(project.root):
        text = project.text(name)
        assert not [m for m in LEFTOVER_JINJA if m in text], name
        assert not re.search(r"[ \t]$", text, re.MULTILINE), f"{name}: trailing whitespace"
        assert "\n\n\n" not in text and not text.startswith("\n"), f"{name}: stray blank lines"
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{name}: final newline"


@over(lambda a: bool({"compose", "kubernetes"} & set(a["deployment"])))
def test_yaml_files_pass_yamllint(project: Project) -> None:
    for name in sorted(deploy_files(project.root)):
        if name.endswith(".yaml"):
            problems = list(linter.run(project.text(name), YAMLLINT))
            assert not problems, f"{name}: " + "; ".join(map(str, problems))


@over(lambda a: bool(a["deployment"]))
def test_deploy_guide_has_a_section_per_chosen_target(project: Project) -> None:
    headings = set(re.findall(r"^## (.+)$", project.text("DEPLOY.md"), re.MULTILINE))
    assert ("Docker" in headings) == ("docker" in project.targets)
    assert ("Docker Compose (one host)" in headings) == ("compose" in project.targets)
    assert ("Kubernetes" in headings) == ("kubernetes" in project.targets)
    assert "Scaling" in headings


# --- Dockerfile ----------------------------------------------------------------------------


def stages(project: Project) -> list[list[Any]]:
    """The Dockerfile's instructions, one list per stage (ARGs before the first FROM dropped)."""
    result: list[list[Any]] = []
    for instruction in project.instructions():
        if instruction.cmd == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def exec_form(instruction: Any) -> list[str]:
    """The argv of a CMD or HEALTHCHECK CMD written as a JSON array (run without a shell)."""
    assert instruction.json, f"{instruction.original}: use the JSON array form"
    argv = list(instruction.value)
    return argv[1:] if instruction.cmd == "HEALTHCHECK" and argv[0] == "CMD" else argv


def env(stage: list[Any]) -> dict[str, str]:
    """The variables a stage's ENV instructions set."""
    pairs = [value for i in stage if i.cmd == "ENV" for value in i.value]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


@with_target("docker")
def test_dockerfile_passes_hadolint(project: Project) -> None:
    hadolint = Path(sysconfig.get_path("scripts")) / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", "Dockerfile"],
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@with_target("docker")
def test_image_is_built_in_a_builder_stage_and_runs_on_slim_python(project: Project) -> None:
    builder, runtime = stages(project)
    (arg,) = [i for i in project.instructions() if i.cmd == "ARG"]
    assert arg.value == ("PYTHON_IMAGE=python:3.11-slim",)
    assert builder[0].value == ("${PYTHON_IMAGE}", "AS", "builder")
    assert runtime[0].value == ("${PYTHON_IMAGE}",)
    copies = [i for i in runtime if i.cmd == "COPY" and "--from=builder" in i.flags]
    assert [c.value for c in copies] == [("/opt/venv", "/opt/venv")]
    assert not any("pip" in i.value[0] for i in runtime if i.cmd == "RUN")


def shell_words(instruction: Any) -> list[str]:
    """A RUN instruction's shell command, split into words as the shell would."""
    return shlex.split(instruction.value[0])


def position(stage: list[Any], found: Callable[[Any], bool]) -> int:
    """The index of the only instruction in `stage` for which `found` is true."""
    (index,) = [n for n, instruction in enumerate(stage) if found(instruction)]
    return index


def copies_app(instruction: Any) -> bool:
    return instruction.cmd in ("COPY", "ADD") and "app" in instruction.value[:-1]


def installs_dependencies(instruction: Any) -> bool:
    return instruction.cmd == "RUN" and "tomllib" in instruction.value[0]


@with_target("docker")
def test_dependencies_get_a_layer_of_their_own_before_the_code(project: Project) -> None:
    builder = stages(project)[0]
    dependencies = position(builder, installs_dependencies)
    assert dependencies < position(builder, copies_app)
    # Its cache key: only what was copied before it, which must be pyproject.toml alone.
    copied = {
        source
        for i in builder[:dependencies]
        if i.cmd in ("COPY", "ADD")
        for source in i.value[:-1]
    }
    assert copied == {"pyproject.toml"}


@with_target("docker")
def test_dependency_layer_installs_the_projects_dependencies(project: Project) -> None:
    builder = stages(project)[0]
    words = shell_words(builder[position(builder, installs_dependencies)])
    start = words.index("python")
    flag, snippet, redirect, requirements = words[start + 1 : start + 5]
    assert (flag, redirect) == ("-c", ">")
    assert words[start + 5 :] == ["&&", "pip", "install", "-r", requirements]
    # The same snippet, run here in the rendered project, as the builder runs it in /src.
    result = subprocess.run(
        [sys.executable, "-c", snippet], cwd=project.root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    dependencies = tomllib.loads(project.text("pyproject.toml"))["project"]["dependencies"]
    assert dependencies and result.stdout.splitlines() == dependencies


@with_target("docker")
def test_project_installs_after_its_code_without_dependencies_not_editable(
    project: Project,
) -> None:
    builder = stages(project)[0]
    runs = [n for n, i in enumerate(builder) if i.cmd == "RUN"]
    words = shell_words(builder[runs[-1]])
    assert runs[-1] > position(builder, copies_app)
    assert words[:2] == ["pip", "install"] and words[-1] == "."
    assert "--no-deps" in words
    assert not {"-e", "--editable"} & set(words)  # the runtime stage gets no sources


@with_target("docker")
def test_image_runs_as_a_numeric_non_root_user(project: Project) -> None:
    users = [i.value[0] for i in stages(project)[-1] if i.cmd == "USER"]
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


@with_target("docker")
def test_image_serves_python_m_app_on_all_interfaces(project: Project) -> None:
    runtime = stages(project)[-1]
    assert env(runtime)["HOST"] == "0.0.0.0"
    (cmd,) = [i for i in runtime if i.cmd == "CMD"]
    assert exec_form(cmd) == ["python", "-m", "app"]


@with_target("docker")
def test_build_context_is_only_what_the_image_copies(project: Project) -> None:
    patterns = project.text(".dockerignore").split("\n")
    patterns = [p for p in patterns if p and not p.startswith("#")]
    assert patterns[0] == "*"
    let_in = {p[1:] for p in patterns if p.startswith("!")}
    sources = {
        source
        for i in project.instructions()
        if i.cmd == "COPY" and not any(f.startswith("--from") for f in i.flags)
        for source in i.value[:-1]
    }
    assert sources <= let_in
    assert not let_in & {".env", ".git", ".venv", "tests"}


@with_target("docker", lambda a: a["server"] == "gunicorn")
def test_gunicorn_image_carries_its_config(project: Project) -> None:
    runtime = stages(project)[-1]
    assert ("gunicorn.conf.py", "./") in [i.value for i in runtime if i.cmd == "COPY"]


@with_target("docker", lambda a: a["database"] == "sqlite")
def test_sqlite_image_keeps_its_database_in_a_writable_directory(project: Project) -> None:
    runtime = stages(project)[-1]
    assert env(runtime)["DATABASE_URL"] == "sqlite:////app/data/app.db"
    assert any("chown 10001:10001 /app/data" in i.value[0] for i in runtime if i.cmd == "RUN")


class Health(http.server.BaseHTTPRequestHandler):
    """Answers the probe paths with the status the test sets."""

    status = {"/health/live": 200, "/health/ready": 200}

    def do_GET(self) -> None:
        self.send_response(self.status.get(self.path, 404))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def probe_target() -> Iterator[tuple[int, type[Health]]]:
    """A loopback HTTP server standing in for the app's probes; yields its port and handler."""
    handler = type("Probe", (Health,), {"status": dict(Health.status)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def run_check(argv: list[str], port: int) -> int:
    """Run a container health check's command here, with `python` meaning this interpreter."""
    assert argv[0] == "python"
    environ = {**os.environ, "PORT": str(port)}
    return subprocess.run([sys.executable, *argv[1:]], env=environ, capture_output=True).returncode


@with_target("docker")
def test_image_healthcheck_follows_liveness(
    project: Project, probe_target: tuple[int, type[Health]]
) -> None:
    port, handler = probe_target
    (check,) = [i for i in stages(project)[-1] if i.cmd == "HEALTHCHECK"]
    argv = exec_form(check)
    handler.status["/health/ready"] = 503  # the image's check must not care
    assert run_check(argv, port) == 0
    handler.status["/health/live"] = 503
    assert run_check(argv, port) != 0


# --- compose.yaml --------------------------------------------------------------------------


@with_target("compose")
def test_compose_file_follows_the_compose_specification(project: Project) -> None:
    compose = PyCompose.from_yaml(project.text("compose.yaml"))
    compose.validate()  # raises ValueError naming the bad key, type or reference


@with_target("compose")
def test_compose_references_only_what_it_defines(project: Project) -> None:
    spec = project.compose()
    services, volumes = spec["services"], set(spec.get("volumes") or ())
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services) - {name}, name
        assert set(service.get("networks", {})) <= set(spec["networks"]), name
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source.startswith("./") or source in volumes, f"{name}: {mount}"


@with_target("compose")
def test_only_nginx_publishes_a_port(project: Project) -> None:
    services = project.services()
    assert [name for name, s in services.items() if s.get("ports")] == ["nginx"]
    assert services["nginx"]["ports"] == ["8000:8080"]  # nginx.conf: `listen 8080;`


@with_target("compose")
def test_app_replicas_sit_behind_nginx(project: Project) -> None:
    services = project.services()
    assert services["app"]["deploy"]["replicas"] >= 2
    assert services["nginx"]["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert nginx.UPSTREAM.search(project.text("deploy/nginx.conf"))  # `server app:8000`


@with_target("compose")
def test_app_trusts_forwarded_headers_from_nginx_only(project: Project) -> None:
    spec = project.compose()
    (ipam,) = spec["networks"]["backend"]["ipam"]["config"]
    fixed = spec["services"]["nginx"]["networks"]["backend"]["ipv4_address"]
    assert spec["services"]["app"]["environment"]["FORWARDED_ALLOW_IPS"] == fixed
    address = ipaddress.ip_address(fixed)
    assert address in ipaddress.ip_network(ipam["subnet"])
    assert address not in ipaddress.ip_network(ipam["ip_range"])  # never handed to another


@with_target("compose")
def test_startup_is_gated_by_health_checks_and_finished_one_shots(project: Project) -> None:
    services = project.services()
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if condition == "service_healthy":
                check = services[target]["healthcheck"]
                assert check["test"] and not check.get("disable"), f"{name} -> {target}"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
                assert services[target]["restart"] == "no", f"{target} is not a one-shot"


@with_target("compose")
def test_app_healthcheck_follows_readiness(
    project: Project, probe_target: tuple[int, type[Health]]
) -> None:
    port, handler = probe_target
    test = project.services()["app"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert run_check(test[1:], port) == 0
    handler.status["/health/ready"] = 503  # nginx must not start before the app can serve
    assert run_check(test[1:], port) != 0


@with_target("compose", lambda a: a["database"] != "none")
def test_migration_runs_once_before_the_app(project: Project) -> None:
    services = project.services()
    migrate, app = services["migrate"], services["app"]
    assert migrate["command"] == ["python", "-m", "app.migrate"]
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert app["environment"]["MIGRATE_ON_START"] == "false"
    assert migrate["environment"]["DATABASE_URL"] == app["environment"]["DATABASE_URL"]


@with_target("compose", lambda a: a["database"] == "none")
def test_no_database_means_no_migration_or_database_service(project: Project) -> None:
    services = project.services()
    assert set(services) <= {"nginx", "app", "worker", "redis"}
    assert not [s for s in services.values() if "DATABASE_URL" in s.get("environment", {})]


@with_target("compose", lambda a: a["database"] in ("postgres", "mongodb"))
def test_database_server_is_the_chosen_one_with_a_healthcheck(project: Project) -> None:
    services = project.services()
    name, image, scheme = {
        "postgres": ("postgres", "postgres:17", "postgresql"),
        "mongodb": ("mongodb", "mongo:8", "mongodb"),
    }[project.database]
    assert services[name]["image"] == image
    assert services[name]["healthcheck"]["test"][0] == "CMD"  # exec form: no shell needed
    url = urlsplit(services["app"]["environment"]["DATABASE_URL"])
    assert (url.scheme, url.hostname) == (scheme, name)
    assert services["app"]["depends_on"][name] == {"condition": "service_healthy"}
    assert not services[name].get("ports")


@with_target("compose", lambda a: a["database"] == "sqlite")
def test_sqlite_file_is_shared_by_every_replica(project: Project) -> None:
    services = project.services()
    url = services["app"]["environment"]["DATABASE_URL"]
    directory = str(Path(url.removeprefix("sqlite:///")).parent)
    users = [name for name in APP_IMAGE if name in services]
    mounts = {name: services[name].get("volumes", []) for name in users}
    assert all(f"app-data:{directory}" in mounted for mounted in mounts.values()), mounts
    assert all(services[name]["environment"]["DATABASE_URL"] == url for name in users)


@with_target("compose")
def test_queue_worker_and_redis_run_with_taskiq_only(project: Project) -> None:
    services = project.services()
    assert ("worker" in services) == ("redis" in services) == project.taskiq
    if project.taskiq:
        assert services["worker"]["command"] == ["python", "-m", "app.queue"]
        assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
        redis_url = services["app"]["environment"]["REDIS_URL"]
        assert services["worker"]["environment"]["REDIS_URL"] == redis_url
        assert services["worker"]["healthcheck"] == {"disable": True}  # no HTTP to probe


def stop_defaults(project: Project) -> dict[str, int]:
    """The stop budget's defaults as the rendered `app/core/settings.py` states them."""
    tree = ast.parse(project.text("app/core/settings.py"))
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "KILL_MARGIN":
                found["margin"] = ast.literal_eval(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            if name in ("STOP_DELAY", "GRACEFUL_TIMEOUT", "DRAIN_TIMEOUT", "POOL_TIMEOUT"):
                assert isinstance(node.value, ast.Call)
                default = next(k.value for k in node.value.keywords if k.arg == "default")
                found[name] = ast.literal_eval(default)
    parts = found["GRACEFUL_TIMEOUT"] + found["DRAIN_TIMEOUT"] + found["POOL_TIMEOUT"]
    budget = found["STOP_DELAY"] + parts
    # Pods stop with STOP_DELAY 0 (the ConfigMap): their preStop sleep does its work.
    return {**found, "budget": budget, "kill": budget + found["margin"],
            "pod_kill": parts + found["margin"]}  # fmt: skip


@with_target("compose")
def test_servers_get_longer_to_stop_than_their_kill_timeout(project: Project) -> None:
    kill = stop_defaults(project)["kill"]
    services = project.services()
    for name in ("app", "worker"):
        if name in services:
            grace = services[name]["stop_grace_period"]
            assert grace.endswith("s") and int(grace[:-1]) > kill, name


@with_target("compose")
def test_services_running_the_app_share_one_image(project: Project) -> None:
    services = project.services()
    built = {(services[n]["build"], services[n]["image"]) for n in APP_IMAGE if n in services}
    assert built == {(".", f"{project.answers['project_name']}:0.1.0")}


@with_target("compose", lambda a: a["database"] == "postgres")
def test_compose_stays_within_the_postgres_connection_budget(project: Project) -> None:
    services = project.services()
    app = services["app"]
    used = app["deploy"]["replicas"] * int(app["environment"]["WEB_CONCURRENCY"]) * DB_POOL_MAX
    if "worker" in services:
        used += int(services["worker"]["environment"]["QUEUE_WORKERS"]) * DB_POOL_MAX
    guide = project.text("DEPLOY.md")
    assert f"**{used}**" in guide  # the guide states this very number...
    fits = used <= POSTGRES_CONNECTIONS
    verdict = f"within {POSTGRES_CONNECTIONS}" if fits else f"**more than {POSTGRES_CONNECTIONS}**"
    assert f"**{used}**, {verdict}" in guide  # ...and whether it fits


# --- deploy/nginx.conf ---------------------------------------------------------------------


def directives(conf: str, name: str) -> list[str]:
    """The arguments of every `name ...;` directive, comments ignored."""
    code = re.sub(r"#.*", "", conf)
    return re.findall(rf"^\s*{name}\s+([^;]*);", code, re.MULTILINE)


@with_target("compose")
def test_nginx_config_passes_nginx_t(project: Project, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    # `app` resolves only inside compose; nginx -t resolves upstream names, so use loopback.
    conf.write_text(nginx.on_loopback(project.text("deploy/nginx.conf"), [8000], 8080))
    result = nginx.check(conf, tmp_path)
    assert result.returncode == 0, result.stderr


@with_target("compose")
def test_nginx_closes_idle_upstream_connections_before_the_app(project: Project) -> None:
    conf = project.text("deploy/nginx.conf")
    (keepalive,) = directives(conf, "keepalive")
    (timeout,) = directives(conf, "keepalive_timeout")
    assert int(keepalive) > 0
    assert timeout.endswith("s") and int(timeout[:-1]) < KEEP_ALIVE_TIMEOUT
    assert directives(conf, "proxy_http_version") == ["1.1"]
    assert 'Connection ""' in directives(conf, "proxy_set_header")


@with_target("compose")
def test_nginx_forwards_the_client_address_scheme_and_host(project: Project) -> None:
    conf = project.text("deploy/nginx.conf")
    headers = dict(header.split(maxsplit=1) for header in directives(conf, "proxy_set_header"))
    assert FORWARDED_HEADERS <= set(headers)
    # With its port: `$host` drops it, and the app's redirects would point at port 80.
    assert headers["Host"] == headers["X-Forwarded-Host"] == "$http_host"


def upstream_params(conf: str) -> list[str]:
    """The parameters of the documented `server app:8000 ...;` line."""
    (upstream,) = nginx.UPSTREAM.finditer(conf)
    return (upstream.group(2) or "").split()


@with_target("compose")
def test_nginx_re_resolves_the_app_service(project: Project) -> None:
    conf = project.text("deploy/nginx.conf")
    assert "resolve" in upstream_params(conf)
    (zone,) = directives(conf, "zone")  # `resolve` needs the group in shared memory
    assert zone.split()[0] == "app_servers"
    (resolver,) = directives(conf, "resolver")
    assert resolver.split()[0] == DOCKER_DNS
    image = project.services()["nginx"]["image"]
    version = image.removeprefix("nginx:").split("-")[0]
    assert tuple(map(int, version.split("."))) >= NGINX_RESOLVE, image


@with_target("compose")
def test_nginx_takes_a_replica_out_only_after_several_failures(project: Project) -> None:
    params = dict(
        p.split("=", 1) for p in upstream_params(project.text("deploy/nginx.conf")) if "=" in p
    )
    assert int(params["max_fails"]) >= 3
    assert params["fail_timeout"].endswith("s") and int(params["fail_timeout"][:-1]) <= 30


@with_target("compose")
def test_nginx_retries_idempotent_requests_a_bounded_number_of_times(project: Project) -> None:
    conf = project.text("deploy/nginx.conf")
    (retry_on,) = directives(conf, "proxy_next_upstream")
    # Connection errors and timeouts only: an app's 5xx is its answer, not a dead replica.
    assert retry_on.split() == ["error", "timeout"]
    assert "non_idempotent" not in retry_on
    (tries,) = directives(conf, "proxy_next_upstream_tries")
    assert 1 < int(tries) <= 3
    for name in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout"):
        assert len(directives(conf, name)) == 1, name
    # A request lost on a vanished host times out, and must still be young enough to retry.
    (read,) = directives(conf, "proxy_read_timeout")
    (window,) = directives(conf, "proxy_next_upstream_timeout")
    assert int(read.rstrip("s")) < int(window.rstrip("s"))


# --- deploy/kubernetes/ --------------------------------------------------------------------


def workloads(project: Project) -> list[Manifest]:
    return [m for m in project.manifests() if m["kind"] in ("Deployment", "Job")]


def pod(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def only_container(workload: Manifest) -> dict[str, Any]:
    (container,) = pod(workload)["containers"]
    return dict(container)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@with_target("kubernetes")
def test_manifests_validate_against_the_kubernetes_api(project: Project, version: str) -> None:
    for manifest in project.manifests():
        kubernetes_validate.validate(manifest, version, strict=True)


@with_target("kubernetes")
def test_web_pods_run_one_server_process(project: Project) -> None:
    config = project.manifest("ConfigMap")
    assert config["data"]["WEB_CONCURRENCY"] == "1"
    container = only_container(project.manifest("Deployment", "web"))
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert "WEB_CONCURRENCY" not in {e["name"] for e in container.get("env", [])}
    assert "replicas" not in project.manifest("Deployment", "web")["spec"]  # the HPA's


@with_target("kubernetes")
def test_pods_get_longer_to_stop_than_prestop_plus_the_kill_timeout(project: Project) -> None:
    stop = stop_defaults(project)
    data = project.manifest("ConfigMap")["data"]
    # The ConfigMap states the budget's parts as the settings' defaults.
    parts = ("GRACEFUL_TIMEOUT", "DRAIN_TIMEOUT", "POOL_TIMEOUT")
    assert {name: int(data[name]) for name in parts} == {name: stop[name] for name in parts}
    assert data["STOP_DELAY"] == "0"  # the preStop sleep keeps the pod serving instead
    web = project.manifest("Deployment", "web")
    command = only_container(web)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod(web)["terminationGracePeriodSeconds"] > stop["pod_kill"] + int(command[1])
    if project.taskiq:  # the queue worker: no preStop, the same budget
        worker = project.manifest("Deployment", "worker")
        assert pod(worker)["terminationGracePeriodSeconds"] > stop["kill"]


@with_target("kubernetes")
def test_liveness_never_depends_on_the_database(project: Project) -> None:
    container = only_container(project.manifest("Deployment", "web"))
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/ready"


@with_target("kubernetes")
def test_every_container_has_resource_requests_and_limits(project: Project) -> None:
    for workload in workloads(project):
        resources = only_container(workload)["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) == {"cpu", "memory"}, workload["metadata"]["name"]


@with_target("kubernetes")
def test_pods_run_non_root_on_a_read_only_root_filesystem(project: Project) -> None:
    for workload in workloads(project):
        spec, container = pod(workload), only_container(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


@with_target("kubernetes")
def test_service_routes_to_web_pods_only(project: Project) -> None:
    selector = project.manifest("Service")["spec"]["selector"]
    for workload in workloads(project):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selected = selector.items() <= labels.items()
        assert selected == (labels["app.kubernetes.io/component"] == "web")
    ports = only_container(project.manifest("Deployment", "web"))["ports"]
    assert project.manifest("Service")["spec"]["ports"][0]["targetPort"] == ports[0]["name"]


@with_target("kubernetes")
def test_autoscaler_scales_the_web_deployment(project: Project) -> None:
    hpa = project.manifest("HorizontalPodAutoscaler")
    web = project.manifest("Deployment", "web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", web["metadata"]["name"])
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


@with_target("kubernetes")
def test_disruption_budget_keeps_web_pods_serving(project: Project) -> None:
    pdb = project.manifest("PodDisruptionBudget")
    web = project.manifest("Deployment", "web")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"] == web["spec"]["selector"]
    min_replicas = project.manifest("HorizontalPodAutoscaler")["spec"]["minReplicas"]
    assert 1 <= pdb["spec"]["minAvailable"] < min_replicas  # drains can still evict one


@with_target("kubernetes", lambda a: a["database"] != "none")
def test_migration_job_runs_app_migrate(project: Project) -> None:
    job = project.manifest("Job")
    assert only_container(job)["command"] == ["python", "-m", "app.migrate"]
    assert pod(job)["restartPolicy"] == "Never"
    assert project.manifest("ConfigMap")["data"]["MIGRATE_ON_START"] == "false"


@with_target("kubernetes")
def test_queue_worker_is_its_own_deployment_with_taskiq_only(project: Project) -> None:
    deployments = [m for m in project.manifests() if m["kind"] == "Deployment"]
    components = sorted(m["metadata"]["labels"]["app.kubernetes.io/component"] for m in deployments)
    assert components == (["web", "worker"] if project.taskiq else ["web"])
    if project.taskiq:
        worker = project.manifest("Deployment", "worker")
        assert only_container(worker)["command"] == ["python", "-m", "app.queue"]
        assert project.manifest("ConfigMap")["data"]["QUEUE_WORKERS"] == "1"


@with_target("kubernetes")
def test_secrets_are_referenced_never_contained(project: Project) -> None:
    assert "Secret" not in {m["kind"] for m in project.manifests()}
    assert not [key for key in project.manifest("ConfigMap")["data"] if key.endswith("_URL")]
    needed = {"DATABASE_URL"} if project.database != "none" else set()
    needed |= {"REDIS_URL"} if project.taskiq else set()
    for workload in workloads(project):
        refs = {e["name"]: e for e in only_container(workload).get("env", [])}
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        wanted = {"DATABASE_URL"} & needed if component == "migrate" else needed
        assert set(refs) == wanted, component
        for item in refs.values():
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref == {"name": project.answers["project_name"], "key": item["name"]}


@with_target("kubernetes")
def test_manifests_are_named_and_labelled_for_the_project(project: Project) -> None:
    name = project.answers["project_name"]
    for manifest in project.manifests():
        assert manifest["metadata"]["name"].startswith(name)
        assert DNS_LABEL.match(manifest["metadata"]["name"]), manifest["metadata"]["name"]
        assert manifest["metadata"]["labels"]["app.kubernetes.io/name"] == name
    for workload in workloads(project):
        assert only_container(workload)["image"] == f"{name}:0.1.0"


@with_target("kubernetes", lambda a: a["database"] == "postgres")
def test_kubernetes_stays_within_the_postgres_connection_budget(project: Project) -> None:
    hpa = project.manifest("HorizontalPodAutoscaler")
    web = project.manifest("Deployment", "web")
    config = project.manifest("ConfigMap")["data"]
    surge = web["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    per_pod = int(config["WEB_CONCURRENCY"]) * DB_POOL_MAX
    used = (hpa["spec"]["maxReplicas"] + surge) * per_pod
    if project.taskiq:
        worker = project.manifest("Deployment", "worker")
        pods = worker["spec"]["replicas"] + worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        used += pods * int(config["QUEUE_WORKERS"]) * DB_POOL_MAX
    assert used <= POSTGRES_CONNECTIONS
    assert f"**{used}**" in project.text("DEPLOY.md")  # the guide states this very number
