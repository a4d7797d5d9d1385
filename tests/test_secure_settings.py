"""Secure settings from the environment: no start without a secret key when DEBUG is
off, ``make`` writing one into ``.env`` once, and ``check --deploy`` passing with the
production environment that ``docs/deployment.md`` lists.

Each case runs in a subprocess with a clean environment, and ``DJANGO_ENV_FILE``
pointing away from this checkout's own ``.env``.
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ROOT / "docs" / "deployment.md"
# `make` is what the README's two commands need; it is there wherever they ran.
MAKE = shutil.which("make") or "make"
REFUSAL = (
    "django.core.exceptions.ImproperlyConfigured: Set DJANGO_SECRET_KEY (e.g. to the output of "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`) or DJANGO_DEBUG=1; "
    "`make run` and `make test` write one into .env."
)


def clean_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """This process's environment less every setting, with ``variables``; no .env read."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    }
    return {**kept, "DJANGO_ENV_FILE": str(tmp_path / "no.env"), **variables}


def run_python(code: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "orchestration.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def manage(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- The secret key -------------------------------------------------------------------------


def test_without_a_secret_key_and_without_debug_the_settings_refuse_naming_the_variable(
    tmp_path: Path,
) -> None:
    result = run_python("import django; django.setup()", clean_environment(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == REFUSAL


def test_an_empty_secret_key_is_refused_too(tmp_path: Path) -> None:
    environment = clean_environment(tmp_path, DJANGO_SECRET_KEY="")
    result = run_python("import django; django.setup()", environment)
    assert result.stderr.strip().splitlines()[-1] == REFUSAL


def test_with_debug_on_a_laptop_needs_no_key(tmp_path: Path) -> None:
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = run_python(code, clean_environment(tmp_path, DJANGO_DEBUG="1"))
    assert (result.returncode, result.stdout) == (0, "True\n")


def test_the_key_from_an_env_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "keys.env").write_text("DJANGO_SECRET_KEY=from-the-file\n")
    environment = clean_environment(tmp_path, DJANGO_ENV_FILE=str(tmp_path / "keys.env"))
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SECRET_KEY)"
    )
    assert run_python(code, environment).stdout == "from-the-file\n"


def make_secret_key(folder: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if name != "DJANGO_SECRET_KEY"}
    return subprocess.run(
        [MAKE, "--no-print-directory", "-f", str(ROOT / "Makefile"), "secret-key"],
        cwd=folder,
        env={**environment, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_writes_a_secret_key_into_env_once_and_keeps_it(tmp_path: Path) -> None:
    first = make_secret_key(tmp_path)
    assert (first.returncode, first.stdout) == (0, "Wrote a new DJANGO_SECRET_KEY into .env\n")
    written = (tmp_path / ".env").read_text()
    assert re.fullmatch(r"DJANGO_SECRET_KEY=[A-Za-z0-9_-]{60,}\n", written)

    second = make_secret_key(tmp_path)
    assert (second.returncode, second.stdout) == (0, "")
    assert (tmp_path / ".env").read_text() == written


def test_make_adds_the_key_to_an_env_file_without_one_and_keeps_its_lines(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=postgres://db/orders")  # no final newline
    make_secret_key(tmp_path)
    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[0] == "DATABASE_URL=postgres://db/orders"
    assert lines[1].startswith("DJANGO_SECRET_KEY=")
    assert len(lines) == 2


def test_make_writes_no_key_when_the_environment_has_one(tmp_path: Path) -> None:
    result = make_secret_key(tmp_path, DJANGO_SECRET_KEY="given")
    assert (result.returncode, result.stdout) == (0, "")
    assert not (tmp_path / ".env").exists()


def test_git_ignores_the_env_file() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


# --- Production ------------------------------------------------------------------------------


def production_environment() -> dict[str, str]:
    """The variables of the fenced block under "## The production environment" in
    docs/deployment.md, with a fresh secret key."""
    text = DEPLOYMENT.read_text()
    section = text.split("## The production environment", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    variables = dict(
        line.split("=", 1)
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    variables["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    return variables


def test_the_documented_production_environment_passes_check_deploy(tmp_path: Path) -> None:
    production = production_environment()
    assert production["DJANGO_SECURE_SSL_REDIRECT"] == "1"
    environment = clean_environment(tmp_path, **production)
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


@pytest.mark.parametrize(
    ("left_out", "warning"),
    [
        ("DJANGO_SECURE_HSTS_SECONDS", "security.W004"),
        ("DJANGO_SECURE_SSL_REDIRECT", "security.W008"),
        ("DJANGO_SESSION_COOKIE_SECURE", "security.W012"),
        ("DJANGO_CSRF_COOKIE_SECURE", "security.W016"),
    ],
)
def test_check_deploy_fails_without_each_https_setting(
    left_out: str, warning: str, tmp_path: Path
) -> None:
    production = production_environment()
    del production[left_out]
    environment = clean_environment(tmp_path, **production)
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.returncode == 1
    assert f"({warning})" in result.stderr


def test_the_proxy_header_setting_reads_name_and_value(tmp_path: Path) -> None:
    environment = clean_environment(
        tmp_path, DJANGO_DEBUG="1", DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https"
    )
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SECURE_PROXY_SSL_HEADER, settings.CACHES['default']['BACKEND'])"
    )
    assert run_python(code, environment).stdout == (
        "('HTTP_X_FORWARDED_PROTO', 'https') django.core.cache.backends.db.DatabaseCache\n"
    )


def test_cache_url_switches_the_shared_cache_to_redis(tmp_path: Path) -> None:
    environment = clean_environment(
        tmp_path, DJANGO_DEBUG="1", CACHE_URL="redis://127.0.0.1:6379/5"
    )
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CACHES['default'])"
    )
    assert run_python(code, environment).stdout == (
        "{'BACKEND': 'django.core.cache.backends.redis.RedisCache', "
        "'LOCATION': 'redis://127.0.0.1:6379/5'}\n"
    )


def test_every_environment_variable_the_settings_read_is_documented() -> None:
    source = (ROOT / "orchestration" / "settings.py").read_text()
    names = set(re.findall(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CACHE_URL", "API_TOKEN_TTL_HOURS"} <= names
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", DEPLOYMENT.read_text()))
    assert sorted(names - documented) == []


@pytest.mark.parametrize(
    ("name", "value"), [("ORCHESTRATION_DRAIN_SLOTS", "0"), ("ORCHESTRATION_DRAIN_BATCH", "-1")]
)
def test_a_drain_setting_below_one_is_refused_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    environment = clean_environment(tmp_path, DJANGO_DEBUG="1", **{name: value})
    result = run_python("import django; django.setup()", environment)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"django.core.exceptions.ImproperlyConfigured: {name} must be at least 1, not {value}."
    )
