"""Django settings of the order orchestration suite.

Everything is read from the environment (django-environ, optionally a ``.env``
file beside ``manage.py``). With nothing set, the suite runs on its embedded
defaults: SQLite in WAL mode, Celery tasks inline, e-mail to the console.

- ``DATABASE_URL=postgres://user@host:5432/name`` switches to PostgreSQL
  (psycopg 3, pooled connections).
- ``CELERY_BROKER_URL=redis://127.0.0.1:6379/0`` switches to a real broker;
  tasks then go to a worker (``CELERY_TASK_ALWAYS_EAGER`` defaults to off).
- ``DJANGO_DEBUG=1`` turns on debug pages (``make run`` sets it).
"""

import os
import tempfile
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    # Only good for a laptop; `manage.py check --deploy` says so.
    default="django-insecure-local-development-key-change-me-in-production",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin with the suite's site (orchestration/admin_site.py).
    "orchestration.apps.SuiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "django_htmx",
    "orchestration.apps.OrchestrationConfig",
    "sheets.apps.SheetsConfig",
    "preview.apps.PreviewConfig",
    "orders.apps.OrdersConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "orchestration.middleware.RefuseNulInRequestMiddleware",
    "orchestration.middleware.RefuseIntegerOverflowMiddleware",
]

ROOT_URLCONF = "orchestration.urls"
WSGI_APPLICATION = "orchestration.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sheets.context_processors.suite",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two
        # writers queue instead of failing with "database is locked" halfway.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: tests that reserve stock from several threads need
    # one database that every connection sees. One file per test run, so two
    # runs on one machine never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"orchestration-test-{os.getpid()}.sqlite3")
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("pool", env.bool("DATABASE_POOL", default=False))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sheets:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest storage needs `collectstatic` first, so it is for
        # production only; everywhere else files are served as found.
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env.bool("DJANGO_STATIC_MANIFEST", default=False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not env.bool("DJANGO_STATIC_MANIFEST", default=False)

# --- E-mail -----------------------------------------------------------------
# By default each mail is a file in var/mail/ (the return forms carry a PDF, which
# would flood a console); point DJANGO_EMAIL_BACKEND at SMTP in production.
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = env.str("DJANGO_EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="orders@localhost")

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# With no broker configured there is no worker either: run tasks inline.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 60 * 60 * 24 * 7
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Deadlines, waiting orders, due export and webhook retries, lost tasks.
    "sweep": {"task": "orchestration.tasks.sweep_task", "schedule": 60},
    "purge-expired-orchestration-details": {
        "task": "orchestration.tasks.orchestration_details_purge_task",
        "schedule": 60 * 60 * 24,
    },
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous API call then gets 401 with WWW-Authenticate
    # rather than the 403 that session authentication alone would give.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["orchestration.api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "orchestration.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "orchestration.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "orchestration.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["orchestration.api.parsers.StrictJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Amounts go out as JSON numbers, as clients send them.
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Order orchestration API",
    "DESCRIPTION": (
        "Organization units, products, stock, orders, sheets, fulfilments and "
        "settings of the order orchestration suite. Authenticate with a token "
        "(`Authorization: Token <key>`, from `POST /api/auth/token/`) or a "
        "session. Every error has the same shape: a stable `code`, a "
        "`message`, and `errors` naming each faulty field by its path."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "OrganizationUnitStatusEnum": "orchestration.models.OrganizationUnitStatus",
        "OrderStatusEnum": "orchestration.models.OrderStatus",
        "OrderLineStatusEnum": "orchestration.models.OrderLineStatus",
        # EVA's fulfilment status names (FulfillmentStatus labels).
        "FulfillmentStatusEnum": [
            "New",
            "Deactivated",
            "Cancelled",
            "WaitingForStock",
            "WaitingForPreSaleShipmentDate",
            "Pending",
            "InProgress",
            "Completed",
        ],
    },
}

ORCHESTRATION_ROUTE_PROVIDER = env.str("ORCHESTRATION_ROUTE_PROVIDER", default="")

# Where state changes that matter outside (cancellations, shipments, failed
# exports) are posted as JSON; empty sends none.
ORCHESTRATION_WEBHOOK_URL = env.str("ORCHESTRATION_WEBHOOK_URL", default="")
# The exporters a sheet's `data ExporterName` can name: name -> {"class": dotted
# path, and the exporter's own options}. ORCHESTRATION_EXPORTERS (JSON) replaces
# the default, which writes each export as a JSON file per warehouse.
ORCHESTRATION_EXPORTERS = env.json(
    "ORCHESTRATION_EXPORTERS",
    default={
        name: {
            "class": "orchestration.exporters.FolderExporter",
            "folder": str(BASE_DIR / "var" / "exports" / name.lower()),
        }
        for name in ("ARVATO", "BONVER", "WAREHOUSE")
    },
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
