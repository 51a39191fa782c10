"""Does docker-compose.yml (and stack/Dockerfile) agree with the code it runs?

Pure functions over parsed text, each returning :class:`Violation` s (an empty list is agreement), so the same
logic is run on the real files and on deliberately broken snippets. What is checked:

- entry points: every ``python -m X`` runs a module with a ``__main__``; every console script is declared in
  pyproject; every ``python -c`` snippet compiles and imports names that exist; every ``--flag`` passed appears
  in the command's ``--help``;
- environment: every variable the code a service runs reads without a default (``os.environ["X"]``, the
  ``required`` rows of stack/config.py's table) is set; defaults that would reach the real internet (provider
  URLs, AWS endpoints) are overridden; every ``SYNCWELL_*`` variable set is one the code knows;
- network: every URL in an environment value or a command argument (and every ``--x-host``/``--x-port`` pair)
  names a service, hostname or alias enabled under each emulator profile, on a port that service listens on;
  services that bind a name carry it as ``hostname``; loopback health URLs hit the service's own port;
- ordering: depends_on targets exist, are enabled whenever the dependent is, have a healthcheck for
  ``service_healthy`` and are one-shots for ``service_completed_successfully``; every configured service waits
  for the bootstrap; host ports are unique per profile;
- image: the Dockerfile copies every first-party package the commands import (transitively), after installing
  the dependencies from pyproject alone, runs as a non-root user, and .dockerignore excludes none of it.
"""
from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import yaml

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::"})
# Container ports of third-party images, which no command line of ours states.
IMAGE_PORTS: Mapping[str, tuple[int, ...]] = {"redis": (6379,), "localstack/localstack": (4566,)}
EMULATOR_PROFILES: tuple[frozenset[str], ...] = (frozenset({"moto", "load"}), frozenset({"localstack", "load"}))
PORT_FLAGS = ("--port", "--health-port")
URL_PATTERN = re.compile(r"""(?:https?|redis|tcp)://[^\s"'\],}]+""")
ENV_READ_PATTERNS = (
    # os.environ["X"] / env["X"] (not an assignment to it): no default
    (re.compile(r"""\b(?:os\.environ|environ|env)\s*\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])"""), True),
    # os.environ.get("X"...) / env.get / os.getenv: has a default (None at least)
    (re.compile(r"""\b(?:os\.environ|environ|env)\.get\(\s*["']([A-Z][A-Z0-9_]*)["']"""), False),
    (re.compile(r"""\bos\.getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""), False),
)
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@dataclass(frozen=True)
class Violation:
    rule: str       # entry-point | flag | env | url | depends | ports | image
    where: str      # compose service, or the Dockerfile
    message: str
    subject: str = ""   # the module/variable/URL concerned (lets callers set known-pending items aside)

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass(frozen=True)
class Invocation:
    """One program a service runs: ``kind`` is module (python -m), script (console script) or code (python -c)."""

    kind: str
    target: str
    args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "module":
            return f"python -m {self.target}"
        if self.kind == "script":
            return " ".join((self.target, *self.args[:1]))
        return "python -c"


@dataclass
class Service:
    name: str
    image: str = ""
    builds_project: bool = False
    profiles: frozenset[str] = frozenset()
    command: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    aliases: frozenset[str] = frozenset()
    depends_on: dict[str, str] = field(default_factory=dict)
    has_healthcheck: bool = False
    restart: str = "no"
    published: list[int] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)

    def enabled(self, active: frozenset[str]) -> bool:
        return not self.profiles or bool(self.profiles & active)

    def names(self) -> frozenset[str]:
        return frozenset({self.name, *self.aliases, *([self.hostname] if self.hostname else [])})

    def invocations(self) -> list[Invocation]:
        return parse_invocations(self.command)

    def listening_ports(self) -> set[int]:
        ports = set(self.expose)
        for inv in self.invocations():
            ports |= {int(v) for flag, v in flag_pairs(inv.args) if flag in PORT_FLAGS and v.isdigit()}
        for prefix, image_ports in IMAGE_PORTS.items():
            if not self.builds_project and self.image.split(":")[0].startswith(prefix):
                ports |= set(image_ports)
        return ports

    def bind_hosts(self) -> set[str]:
        return {v for inv in self.invocations() for flag, v in flag_pairs(inv.args) if flag == "--host"}


# ---- parsing ---------------------------------------------------------------------------------------------------
def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with the default taken (CI has none of them set), and $$ -> $."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def load_compose(text: str) -> dict[str, Service]:
    data = yaml.safe_load(text) or {}
    return {name: _service(name, body or {}) for name, body in (data.get("services") or {}).items()}


def _service(name: str, body: Mapping[str, object]) -> Service:
    command = body.get("command") or []
    argv = shlex.split(interpolate(command)) if isinstance(command, str) else [interpolate(str(a)) for a in command]
    networks = body.get("networks") or {}
    aliases: set[str] = set()
    if isinstance(networks, Mapping):
        for net in networks.values():
            aliases |= set((net or {}).get("aliases") or [])
    depends = body.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {target: {"condition": "service_started"} for target in depends}
    return Service(
        name=name, image=interpolate(str(body.get("image") or "")), builds_project="build" in body,
        profiles=frozenset(body.get("profiles") or ()), command=argv,
        environment=_environment(body.get("environment")), hostname=str(body.get("hostname") or ""),
        aliases=frozenset(aliases),
        depends_on={t: str((c or {}).get("condition", "service_started")) for t, c in depends.items()},
        has_healthcheck=bool(body.get("healthcheck")) and not (body.get("healthcheck") or {}).get("disable"),
        restart=str(body.get("restart", "no")),
        published=[p for p in (_published_port(str(s)) for s in body.get("ports") or []) if p is not None],
        expose=[int(str(p).split("/")[0]) for p in body.get("expose") or []],
    )


def _environment(raw: object) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return {str(k): interpolate("" if v is None else str(v)) for k, v in raw.items()}
    env: dict[str, str] = {}
    for item in raw or []:
        key, _, value = str(item).partition("=")
        env[key] = interpolate(value)
    return env


def _published_port(spec: str) -> int | None:
    """The host port of "[ip:]host:container" (None when only a container port is given)."""
    parts = interpolate(spec).split("/")[0].split(":")
    return int(parts[-2]) if len(parts) >= 2 and parts[-2].isdigit() else None


def parse_invocations(argv: Sequence[str]) -> list[Invocation]:
    if not argv:
        return []
    if argv[0] in ("sh", "bash", "/bin/sh", "/bin/bash") and "-c" in argv:
        script = argv[argv.index("-c") + 1]
        found = []
        for segment in re.split(r"[;&|\n]+", script):
            words = segment.split()
            for i, word in enumerate(words):
                if re.fullmatch(r"python3?", word):
                    found += parse_invocations(words[i:])
                    break
        return found
    if re.fullmatch(r"(?:.*/)?python3?", argv[0]):
        if len(argv) >= 3 and argv[1] == "-m":
            return [Invocation("module", argv[2], tuple(argv[3:]))]
        if len(argv) >= 3 and argv[1] == "-c":
            return [Invocation("code", argv[2], tuple(argv[3:]))]
        return []
    return [Invocation("script", argv[0], tuple(argv[1:]))]


def flag_pairs(args: Sequence[str]) -> list[tuple[str, str]]:
    """(--flag, value) pairs; a flag followed by another flag (or nothing) has value ""."""
    pairs = []
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            if "=" in arg:
                flag, _, value = arg.partition("=")
                pairs.append((flag, value))
            else:
                nxt = args[i + 1] if i + 1 < len(args) else ""
                pairs.append((arg, "" if nxt.startswith("--") else nxt))
    return pairs


# ---- the project's code ----------------------------------------------------------------------------------------
@dataclass
class Project:
    """What the checks need to know about the code (read once from the repository)."""

    root: Path
    packages: tuple[str, ...]                       # top-level first-party packages (pyproject packages.find)
    scripts: dict[str, str]                          # console script -> "module:function"
    config_table: dict[str, str]                     # stack/config.py table: variable -> default ("required")
    endpoint_suffixes: tuple[str, ...]               # AWS_ENDPOINT_URL_<suffix> the stack's clients use

    @classmethod
    def read(cls, root: Path) -> "Project":
        pyproject = tomllib.loads((root / "pyproject.toml").read_text())
        include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
        packages = tuple(sorted({pattern.rstrip("*").rstrip(".") for pattern in include}))
        return cls(root=root, packages=packages, scripts=dict(pyproject["project"].get("scripts", {})),
                   config_table=parse_config_table((root / "stack" / "config.py").read_text()),
                   endpoint_suffixes=parse_endpoint_suffixes((root / "stack" / "aws_clients.py").read_text()))

    def is_first_party(self, module: str) -> bool:
        return module.split(".")[0] in self.packages

    def module_file(self, module: str) -> Path | None:
        base = self.root.joinpath(*module.split("."))
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def main_file(self, module: str) -> Path | None:
        """The file ``python -m module`` runs, if it can."""
        base = self.root.joinpath(*module.split("."))
        if (base / "__main__.py").is_file():
            return base / "__main__.py"
        single = base.with_suffix(".py")
        if single.is_file() and re.search(r"""__name__\s*==\s*["']__main__["']""", single.read_text()):
            return single
        return None

    def import_closure(self, start: Iterable[Path]) -> set[Path]:
        """Every first-party file reachable from ``start`` by imports (package __init__ files included)."""
        seen: set[Path] = set()
        todo = [p for p in start if p is not None]
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            for module in self._imports_of(path):
                for target in self._files_for(module):
                    if target not in seen:
                        todo.append(target)
        return seen

    def _imports_of(self, path: Path) -> set[str]:
        cache: dict[Path, set[str]] = self.__dict__.setdefault("_import_cache", {})
        if path not in cache:
            cache[path] = self._parse_imports(path)
        return cache[path]

    def _parse_imports(self, path: Path) -> set[str]:
        try:
            tree = ast.parse(path.read_text())
        except (OSError, SyntaxError):
            return set()
        package = ".".join(path.relative_to(self.root).with_suffix("").parts)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
        elif package.endswith(".__init__"):
            package = package[: -len(".__init__")]
        modules: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*parent, *([base] if base else [])])
                modules.add(base)
                modules |= {f"{base}.{alias.name}" for alias in node.names}
        return {m for m in modules if m and self.is_first_party(m)}

    def _files_for(self, module: str) -> list[Path]:
        """The module's file and its parents' __init__ files (importing a.b.c runs a/__init__ and a/b/__init__)."""
        parts = module.split(".")
        files = []
        for i in range(1, len(parts) + 1):
            found = self.module_file(".".join(parts[:i]))
            if found is not None:
                files.append(found)
        return files

    def entry_files(self, inv: Invocation) -> list[Path]:
        """The first-party files an invocation starts from."""
        if inv.kind == "module":
            return [f for f in (self.main_file(inv.target), *self._files_for(inv.target)) if f is not None]
        if inv.kind == "script" and inv.target in self.scripts:
            module = self.scripts[inv.target].split(":")[0]
            files = self._files_for(module)
            if inv.args and not inv.args[0].startswith("-"):   # a subcommand: sim/commands/<name>.py
                files += self._files_for(f"{module.rpartition('.')[0]}.commands.{inv.args[0]}")
            return files
        if inv.kind == "code":
            return [f for m in _code_imports(inv.target) if self.is_first_party(m) for f in self._files_for(m)]
        return []


    def entry_scope_texts(self, inv: Invocation) -> list[str]:
        """The source of the invocation's own code: the module's package (or file), the CLI command, the -c text."""
        if inv.kind == "code":
            return [inv.target]
        if inv.kind == "module":
            base = self.root.joinpath(*inv.target.split("."))
            files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        elif inv.kind == "script" and inv.target in self.scripts:
            module = self.scripts[inv.target].split(":")[0]
            files = [f for f in self._files_for(module)[-1:]]
            if inv.args and not inv.args[0].startswith("-"):
                files += self._files_for(f"{module.rpartition('.')[0]}.commands.{inv.args[0]}")[-1:]
        else:
            files = []
        return [f.read_text() for f in files if f.is_file()]


def parse_config_table(config_source: str) -> dict[str, str]:
    """The variable table in stack/config.py's docstring: {variable: default} ("required" when it has none)."""
    doc = ast.get_docstring(ast.parse(config_source)) or ""
    table: dict[str, str] = {}
    rows = [line for line in doc.splitlines() if re.match(r"^[A-Z][A-Z0-9_/]+\s{2,}", line)]
    for line in rows:
        columns = re.split(r"\s{2,}", line.strip())
        names, default = columns[0], columns[-1] if len(columns) >= 3 else ""
        for name in names.split("/"):
            table[name] = default.strip()
    return table


def parse_endpoint_suffixes(aws_clients_source: str) -> tuple[str, ...]:
    tree = ast.parse(aws_clients_source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "ENDPOINT_ENV_SUFFIX" and node.value is not None:
                return tuple(sorted(set(ast.literal_eval(node.value).values())))
    return ()


def env_reads(text: str) -> dict[str, bool]:
    """Variables read in source ``text``: {name: required} (required = read without a default)."""
    reads: dict[str, bool] = {}
    for pattern, required in ENV_READ_PATTERNS:
        for match in pattern.finditer(text):
            reads[match.group(1)] = reads.get(match.group(1), False) or required
    return reads


def _code_imports(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return found


def is_required_default(default: str) -> bool:
    return default.lower().startswith("required")


def reaches_outside(default: str) -> bool:
    return bool(re.match(r"https?://", default)) and urlsplit(default).hostname not in LOOPBACK_HOSTS


# ---- checks ----------------------------------------------------------------------------------------------------
HelpProvider = Callable[[Invocation], "str | None"]   # --help text, or None when the command does not exist


def check_entry_points(services: Mapping[str, Service], project: Project, help_text: HelpProvider) -> list[Violation]:
    out: list[Violation] = []
    for svc in services.values():
        if not svc.builds_project:
            continue
        for inv in svc.invocations():
            out += _check_invocation(svc, inv, project, help_text)
    return out


def _check_invocation(svc: Service, inv: Invocation, project: Project, help_text: HelpProvider) -> list[Violation]:
    subject = inv.label
    if inv.kind == "module" and project.is_first_party(inv.target) and project.main_file(inv.target) is None:
        return [Violation("entry-point", svc.name, f"`{subject}`: module {inv.target} has no __main__", subject)]
    if inv.kind == "script" and inv.target not in project.scripts:
        return [Violation("entry-point", svc.name, f"`{inv.target}` is not a console script in pyproject.toml",
                          inv.target)]
    if inv.kind == "code":
        return _check_code(svc, inv.target, project)
    text = help_text(inv)
    if text is None:
        return [Violation("entry-point", svc.name, f"`{subject}` does not run (its --help fails, with the image's files)", subject)]
    return [Violation("flag", svc.name, f"`{subject}` has no option {flag} (not in its --help)", subject)
            for flag, _ in flag_pairs(inv.args) if flag not in ("--help",) and not _mentions_flag(text, flag)]


def _mentions_flag(help_text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


def _check_code(svc: Service, code: str, project: Project) -> list[Violation]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [Violation("entry-point", svc.name, f"`python -c` snippet does not compile: {exc}", "python -c")]
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and project.is_first_party(node.module)):
            continue
        path = project.module_file(node.module)
        if path is None:
            out.append(Violation("entry-point", svc.name, f"`python -c` imports missing module {node.module}",
                                 node.module))
            continue
        defined = _top_level_names(path.read_text())
        for alias in node.names:
            if alias.name not in defined and project.module_file(f"{node.module}.{alias.name}") is None:
                out.append(Violation("entry-point", svc.name,
                                     f"`python -c` imports {alias.name} from {node.module}, which has none",
                                     f"{node.module}.{alias.name}"))
    return out


def _top_level_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def check_environment(services: Mapping[str, Service], project: Project,
                      image_env: Mapping[str, str] | None = None) -> list[Violation]:
    out: list[Violation] = []
    known = set(project.config_table)
    for svc in services.values():
        if not svc.builds_project:
            continue
        env = {**(image_env or {}), **svc.environment}
        files = project.import_closure(f for inv in svc.invocations() for f in project.entry_files(inv))
        reads: dict[str, bool] = {}
        for text in [*(p.read_text() for p in files), *(i.target for i in svc.invocations() if i.kind == "code")]:
            for name, required in env_reads(text).items():
                reads[name] = reads.get(name, False) or required
        known |= set(reads)
        if reads_stack_config(svc, project):
            # StackConfig.from_env's table (read through f-strings too), and what boto3 needs to stay local.
            for name, default in project.config_table.items():
                if is_required_default(default) or reaches_outside(default):
                    reads[name] = True
            for name in (*AWS_CREDENTIALS, *(f"AWS_ENDPOINT_URL_{s}" for s in project.endpoint_suffixes)):
                reads[name] = True
        for name, required in sorted(reads.items()):
            if required and not env.get(name, "").strip():
                out.append(Violation("env", svc.name, f"{name} is read without a default (or its default reaches "
                                     f"outside the stack) but is not set", name))
    for svc in services.values():
        for name in sorted(svc.environment):
            if name.startswith("SYNCWELL_") and name not in known:
                out.append(Violation("env", svc.name, f"{name} is set but no code reads it (typo?)", name))
            suffix = name[len("AWS_ENDPOINT_URL_"):]
            if name.startswith("AWS_ENDPOINT_URL_") and suffix not in project.endpoint_suffixes:
                out.append(Violation("env", svc.name, f"{name} is not an endpoint variable the stack's clients use "
                                     f"(AWS_ENDPOINT_URL_{{{','.join(project.endpoint_suffixes)}}})", name))
    return out


def reads_stack_config(svc: Service, project: Project) -> bool:
    """The service's own entry code (not everything it happens to import) calls StackConfig.from_env."""
    return any("StackConfig.from_env(" in text for inv in svc.invocations()
               for text in project.entry_scope_texts(inv))


def service_urls(svc: Service) -> list[tuple[str, str]]:
    """(where, url) for every URL in the environment and the command line, and --x-host/--x-port pairs."""
    found = [(f"env {k}", u) for k, v in svc.environment.items() for u in URL_PATTERN.findall(v)]
    for inv in svc.invocations():
        found += [(f"{inv.label} args", u) for a in inv.args for u in URL_PATTERN.findall(a)]
        pairs = dict(flag_pairs(inv.args))
        for flag, host in pairs.items():
            if flag.endswith("-host") and flag != "--host" and f"{flag[:-5]}-port" in pairs:
                found.append((f"{inv.label} {flag}", f"tcp://{host}:{pairs[flag[:-5] + '-port']}"))
    return found


def check_urls(services: Mapping[str, Service],
               profile_sets: Sequence[frozenset[str]] = EMULATOR_PROFILES) -> list[Violation]:
    out: set[Violation] = set()
    for active in profile_sets:
        enabled = {n: s for n, s in services.items() if s.enabled(active)}
        for svc in enabled.values():
            for where, url in service_urls(svc):
                parts = urlsplit(url)
                host, port = parts.hostname or "", _port_of(parts)
                if host in LOOPBACK_HOSTS:
                    if svc.bind_hosts() - WILDCARD_BINDS - LOOPBACK_HOSTS:
                        out.add(Violation("url", svc.name, f"{where}: {url} uses loopback but the service binds "
                                          f"{sorted(svc.bind_hosts())}", url))
                    elif port not in svc.listening_ports():
                        out.add(Violation("url", svc.name, f"{where}: {url} is not a port this service listens on "
                                          f"({sorted(svc.listening_ports())})", url))
                    continue
                targets = [t for t in enabled.values() if host in t.names()]
                profiles = "+".join(sorted(active))
                if len(targets) != 1:
                    what = "no service" if not targets else f"{len(targets)} services"
                    out.add(Violation("url", svc.name, f"{where}: {url}: host {host!r} is {what} with profiles "
                                      f"{profiles}", url))
                elif port not in targets[0].listening_ports():
                    out.add(Violation("url", svc.name, f"{where}: {url}: {targets[0].name} listens on "
                                      f"{sorted(targets[0].listening_ports())}, not {port}", url))
    for svc in services.values():
        for host in svc.bind_hosts() - WILDCARD_BINDS - LOOPBACK_HOSTS:
            if host != svc.hostname:
                out.add(Violation("url", svc.name, f"binds --host {host} but its hostname is "
                                  f"{svc.hostname or '(unset)'}: the name would not resolve to this container", host))
    return sorted(out, key=str)


def _port_of(parts: object) -> int | None:
    try:
        port = parts.port  # type: ignore[attr-defined]
    except ValueError:
        return None
    if port is not None:
        return int(port)
    return {"http": 80, "https": 443, "redis": 6379}.get(parts.scheme)  # type: ignore[attr-defined]


def check_issuers(services: Mapping[str, Service], expected: Sequence[Mapping[str, str]]) -> list[Violation]:
    """SYNCWELL_JWT_ISSUERS must be exactly what the identity server announces (issuer, JWKS URL, audience)."""
    out = []
    for svc in services.values():
        raw = svc.environment.get("SYNCWELL_JWT_ISSUERS")
        if raw is None:
            continue
        try:
            configured = json.loads(raw)
        except ValueError as exc:
            out.append(Violation("env", svc.name, f"SYNCWELL_JWT_ISSUERS is not JSON: {exc}", "SYNCWELL_JWT_ISSUERS"))
            continue
        if configured != list(expected):
            out.append(Violation("env", svc.name, f"SYNCWELL_JWT_ISSUERS {configured} differs from what identity "
                                 f"announces {list(expected)}", "SYNCWELL_JWT_ISSUERS"))
    return out


def check_dependencies(services: Mapping[str, Service], project: Project) -> list[Violation]:
    out: list[Violation] = []
    bootstraps = {n for n, s in services.items()
                  if any(i.kind == "module" and i.target == "stack.bootstrap" for i in s.invocations())}
    for svc in services.values():
        for target, condition in svc.depends_on.items():
            dep = services.get(target)
            if dep is None:
                out.append(Violation("depends", svc.name, f"depends on undefined service {target}", target))
                continue
            if dep.profiles and not (svc.profiles and svc.profiles <= dep.profiles):
                out.append(Violation("depends", svc.name, f"depends on {target}, which is only enabled with profiles "
                                     f"{sorted(dep.profiles)}: it would be missing", target))
            if condition == "service_healthy" and not dep.has_healthcheck:
                out.append(Violation("depends", svc.name, f"waits for {target} to be healthy, which has no healthcheck",
                                     target))
            if condition == "service_completed_successfully" and dep.restart not in ("no", '"no"'):
                out.append(Violation("depends", svc.name, f"waits for {target} to complete, but it restarts "
                                     f"({dep.restart}) instead of being a one-shot", target))
        if svc.name in bootstraps or not svc.builds_project:
            continue
        if reads_stack_config(svc, project) and not (_transitive_deps(svc.name, services) & bootstraps):
            out.append(Violation("depends", svc.name, "reads the stack configuration but does not wait for the "
                                 "bootstrap (service_completed_successfully)", "bootstrap"))
    return out


def _transitive_deps(name: str, services: Mapping[str, Service]) -> set[str]:
    seen: set[str] = set()
    todo = list(services[name].depends_on)
    while todo:
        current = todo.pop()
        if current in seen or current not in services:
            continue
        seen.add(current)
        todo += list(services[current].depends_on)
    return seen


def check_ports(services: Mapping[str, Service],
                profile_sets: Sequence[frozenset[str]] = EMULATOR_PROFILES) -> list[Violation]:
    out: set[Violation] = set()
    for active in profile_sets:
        owners: dict[int, str] = {}
        for svc in services.values():
            if not svc.enabled(active):
                continue
            for port in svc.published:
                if port in owners and owners[port] != svc.name:
                    out.add(Violation("ports", svc.name, f"host port {port} is also published by {owners[port]} "
                                      f"(profiles {'+'.join(sorted(active))})", str(port)))
                owners.setdefault(port, svc.name)
    return sorted(out, key=str)


# ---- the image -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DockerStep:
    instruction: str
    args: str


def parse_dockerfile(text: str) -> list[DockerStep]:
    steps = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        steps.append(DockerStep(instruction.upper(), args.strip()))
    return steps


def copied_sources(steps: Sequence[DockerStep]) -> list[tuple[int, str]]:
    """(step index, source path) of every COPY/ADD from the build context."""
    out = []
    for index, step in enumerate(steps):
        if step.instruction not in ("COPY", "ADD"):
            continue
        words = [w for w in shlex.split(step.args) if not w.startswith("--")]
        if any(w.startswith("--from") for w in shlex.split(step.args)):
            continue
        out += [(index, src.rstrip("/").removeprefix("./")) for src in words[:-1]]
    return out


def dockerignore_excludes(patterns: Sequence[str], path: str) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern matching a parent directory counts."""
    excluded = False
    candidates = [path] + ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*") \
            .replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def check_image(dockerfile: str, dockerignore: str, services: Mapping[str, Service], project: Project) -> list[Violation]:
    steps = parse_dockerfile(dockerfile)
    copies = copied_sources(steps)
    copied = {src for _, src in copies}
    out: list[Violation] = []
    where = "stack/Dockerfile"
    base = next((s.args for s in steps if s.instruction == "FROM"), "")
    arg_defaults = dict(s.args.split("=", 1) for s in steps if s.instruction == "ARG" and "=" in s.args)
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: arg_defaults.get(m.group(1), m.group(0)), base)
    if not base.startswith("python:3.11-slim"):
        out.append(Violation("image", where, f"base image is {base!r}, expected python:3.11-slim", base))
    needed: set[str] = set()
    for svc in services.values():
        if not svc.builds_project:
            continue
        files = project.import_closure(f for inv in svc.invocations() for f in project.entry_files(inv))
        needed |= {p.relative_to(project.root).parts[0] for p in files}
    needed |= set(project.packages)      # the editable install maps every package pyproject names
    for package in sorted(needed - copied):
        out.append(Violation("image", where, f"package {package}/ is imported by a compose command (or named in "
                             f"pyproject) but never copied into the image", package))
    ignore = dockerignore.splitlines()
    for src in sorted(copied):
        if dockerignore_excludes(ignore, src):
            out.append(Violation("image", where, f"COPY {src} but .dockerignore excludes it", src))
    out += _check_layer_order(steps, copies, where)
    users = [s.args.split(":")[0] for s in steps if s.instruction == "USER"]
    if not users or users[-1] in ("root", "0"):
        out.append(Violation("image", where, "the image runs as root (no USER, or USER root last)", "USER"))
    return out


def _check_layer_order(steps: Sequence[DockerStep], copies: Sequence[tuple[int, str]], where: str) -> list[Violation]:
    """Dependencies are installed from pyproject.toml before any source is copied (so source edits keep the cache)."""
    deps_install = next((i for i, s in enumerate(steps) if s.instruction == "RUN" and "pip install" in s.args
                         and "pyproject.toml" in s.args), None)
    if deps_install is None:
        return [Violation("image", where, "no RUN step installs the dependencies read from pyproject.toml", "pip")]
    early = [src for i, src in copies if i < deps_install]
    if early != ["pyproject.toml"]:
        return [Violation("image", where, f"only pyproject.toml may be copied before the dependency install; "
                          f"copied {early}", "layers")]
    return []


def stage_image_files(root: Path, dockerfile: str, dockerignore: str, dest: Path) -> list[Path]:
    """Copy what the Dockerfile's COPY steps take from the build context (less .dockerignore) under ``dest``, as
    it lands in the image's WORKDIR, so the commands can be run from exactly those files."""
    import shutil

    ignore = dockerignore.splitlines()
    staged: list[Path] = []
    for step in parse_dockerfile(dockerfile):
        if step.instruction not in ("COPY", "ADD") or "--from" in step.args:
            continue
        words = [w for w in shlex.split(step.args) if not w.startswith("--")]
        target = dest / words[-1].removeprefix("./")
        into_dir = words[-1].endswith("/") or words[-1] in (".", "./")
        for src in (w.rstrip("/").removeprefix("./") for w in words[:-1]):
            base = root / src
            if base.is_dir():   # a directory's contents go into the target directory
                pairs = [(p, target / p.relative_to(base)) for p in sorted(base.rglob("*")) if p.is_file()]
            else:
                pairs = [(base, target / base.name if into_dir else target)]
            for path, out in pairs:
                if dockerignore_excludes(ignore, path.relative_to(root).as_posix()):
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, out)
                staged.append(out)
    return staged
