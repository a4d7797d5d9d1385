"""Django settings of the order orchestration suite.

Everything is read from the environment (django-environ, optionally a ``.env``
file beside ``manage.py``). With nothing set, the suite runs on its embedded
defaults: SQLite in WAL mode, Celery tasks inline, e-mail to the console.

- ``DATABASE_URL=postgres://user@host:5432/name`` switches to PostgreSQL
  (psycopg 3, pooled connections).
- ``CELERY_BROKER_URL=redis://127.0.0.1:6379/0`` (or RabbitMQ's
  ``amqp://user:password@127.0.0.1:5672//``) switches to a real broker; tasks then go
  to a worker (``CELERY_TASK_ALWAYS_EAGER`` defaults to off).
- ``DJANGO_DEBUG=1`` turns on debug pages (``make run`` sets it).

With ``DJANGO_DEBUG`` off, ``DJANGO_SECRET_KEY`` must be set: the settings refuse
to load without it rather than sign sessions with a key everyone knows.
``make run`` and ``make test`` write a generated one into ``.env``. Production's
whole environment, every variable read here with its default, is in
``docs/deployment.md``.
"""

import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The file's values never override the environment's.
environ.Env.read_env(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY (e.g. to the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`) "
            "or DJANGO_DEBUG=1; `make run` and `make test` write one into .env."
        )
    # Debug pages only, on a laptop; `manage.py check --deploy` says so.
    SECRET_KEY = "django-insecure-local-development-key-change-me-in-production"  # noqa: S105
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS ----------------------------------------------------------------------
# Off by default, so `make run` serves plain HTTP; docs/deployment.md lists the
# production values, with which `manage.py check --deploy` reports nothing.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# A load balancer checks health over plain HTTP: never redirect it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
# Behind a TLS proxy: "HTTP_X_FORWARDED_PROTO,https" (the header the proxy sets, and
# its value for HTTPS). Set it only if the proxy always sets or strips that header.
SECURE_PROXY_SSL_HEADER = env.tuple("DJANGO_SECURE_PROXY_SSL_HEADER", default=None)
# How many proxies in front of the server append to X-Forwarded-For: 0 trusts no
# such header (the client is REMOTE_ADDR); 1 for one nginx. Sign-in throttling
# counts failures per client address with it.
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)

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
    # A process keeps its connection this many seconds (0: a new one per request and per
    # task), checked with a `SELECT 1` before its first use in each request and task
    # (CONN_HEALTH_CHECKS; a round trip each, 3 an order), so a restarted server costs
    # no failed request. A new PostgreSQL connection is a new server process: 2 to 3 ms
    # of a request or a run that take 5.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_POOL", default=False):
        if DATABASES["default"]["CONN_MAX_AGE"]:
            raise ImproperlyConfigured(
                "Set DATABASE_POOL or DATABASE_CONN_MAX_AGE, not both: a pooled connection "
                "goes back to its pool after each request and task."
            )
        # One connection per process at rest (a gunicorn sync worker and a Celery prefork
        # child serve one request or task at a time); psycopg's default keeps four.
        DATABASES["default"]["OPTIONS"].setdefault(
            "pool", {"min_size": 1, "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=4)}
        )
    # The hot statements of every order are prepared on their connection once and then
    # only executed, sparing PostgreSQL their parsing and planning
    # (services/persistence/postgres.py, docs/performance.md). On by default where
    # connections are kept (a new connection per request would prepare each of them
    # for one use: a round trip more each). Off for a pooler that hands a transaction's
    # statements to any server connection without tracking prepared statements
    # (PgBouncer in transaction mode before 1.22, or without max_prepared_statements).
    DATABASE_PREPARED_STATEMENTS = env.bool(
        "DATABASE_PREPARED_STATEMENTS",
        default=bool(DATABASES["default"]["CONN_MAX_AGE"])
        or "pool" in DATABASES["default"]["OPTIONS"],
    )
    # A server that does not answer fails a request (and /healthz) in seconds, not minutes.
    DATABASES["default"]["OPTIONS"].setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------------
# Sign-in throttling keeps its counts here, so every web process must see the same
# cache: Redis with CACHE_URL=redis://host:6379/1, else a table in the database
# (made by `migrate`). Never a per-process memory cache: with several gunicorn
# workers each would count failures on its own.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://orchestration_cache")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Django's model permissions, a user's own and their groups' read in one query
# (orchestration/permission_backend.py) rather than two on every API request; Django's
# ModelBackend signs people in, as sessions made before name it.
AUTHENTICATION_BACKENDS = [
    "orchestration.permission_backend.OneQueryPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling (orchestration/signin.py): after this many failed sign-ins for
# one user name, or from one client address, within SIGNIN_LOCKOUT_MINUTES, the
# Suite's and the admin's login pages and POST /api/auth/token/ answer 429 for
# SIGNIN_LOCKOUT_MINUTES, even to the right password. An address gets more tries
# than a user name: an office behind one address holds many users.
SIGNIN_FAILURES_PER_USER = env.int("SIGNIN_FAILURES_PER_USER", default=5)
SIGNIN_FAILURES_PER_ADDRESS = env.int("SIGNIN_FAILURES_PER_ADDRESS", default=20)
SIGNIN_LOCKOUT_MINUTES = env.int("SIGNIN_LOCKOUT_MINUTES", default=15)
LOGIN_REDIRECT_URL = "home"  # each role where it works (account.landing)
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
# The broker: Redis (redis://) or RabbitMQ (amqp://); docs/deployment.md says when to
# choose which. Everything below holds for both unless it names one.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# With no broker configured there is no worker either: run tasks inline.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
# Task results older than this (seconds; 7 days) are deleted by the history purge
# (below), in batches. Most tasks store none (ignore_result); the sweep's and the
# purge's own results are what is kept.
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=60 * 60 * 24 * 7)
# A task is acknowledged once it has run, and a worker that dies mid-task leaves its
# message to be delivered again (tests/lifecycle/test_worker_killed.py): Redis hands it
# out after its visibility timeout (an hour, kombu's default), RabbitMQ as soon as the
# dead worker's connection closes. RabbitMQ also takes back a message a live worker has
# held unacknowledged for longer than its ``consumer_timeout`` (30 minutes by default,
# set on the broker): no task here runs for that long, and none is sent with a countdown.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes every database connection before and after each task,
# and with DATABASE_POOL closes the whole pool of a prefork child: a new PostgreSQL
# connection per task. Given a reuse count it never reaches, it leaves them alone, and
# orchestration/celery.py closes, after each task, what Django closes after each
# request: a connection that failed or is older than DATABASE_CONN_MAX_AGE (with the
# default 0, every connection, as before).
CELERY_DB_REUSE_MAX = 2**62
# Stated, although they are Celery's defaults, because losing a message on a broker
# restart is what they prevent: the default queue (and any queue made on the fly for a
# name, as the tests do) is durable on RabbitMQ, surviving a restart, and every message
# is persistent, written to disk before the broker confirms it. Redis keeps queues as
# lists and has no per-message persistence: there they last as long as Redis's own
# persistence (appendonly) makes them (docs/deployment.md). The queue's name is for
# installs (or test runs) sharing one broker: each its own queue.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_QUEUES = [
    Queue(
        CELERY_TASK_DEFAULT_QUEUE,
        Exchange(CELERY_TASK_DEFAULT_QUEUE, type="direct", durable=True),
        routing_key=CELERY_TASK_DEFAULT_QUEUE,
        durable=True,
    )
]
CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A broker outage: a committed write still answers success (services/sending.py logs a
# warning and the sweep sends the task later), but first the send must give up quickly,
# or the request waits on it. Celery's defaults: 4 s per connection attempt and 3
# publish retries; and a broker that accepts the connection but never answers blocks a
# send for minutes (no socket timeout). With these defaults a send gives up in about
# 2 s when the broker hangs, and at once when nothing listens on its port.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_BROKER_SOCKET_TIMEOUT = env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0)
# Each transport takes the options it knows and ignores the others' (kombu's Redis
# channel picks its names; py-amqp's connection takes any keyword), so the one dict
# serves both, and a test may switch the URL from one broker to the other.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis: connecting, and each read or write once connected.
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
    # RabbitMQ (py-amqp): connecting and its handshake are bounded by the connection
    # timeout above; each read or write once connected by these, which also bound the
    # wait for a publisher confirm (a broker under a memory alarm blocks publishers).
    "read_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
    "write_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
    # RabbitMQ: each publish waits for the broker's ack, so a send that returned is a
    # message the broker stored (persistent: on disk), and a refused one (a nack, or the
    # channel closed on it) raises, is logged, and is left to the sweep rather than lost
    # in silence. It costs the producer a round trip and the broker's write to disk per
    # send (`bench broker`, docs/performance.md); off, a message the broker drops is
    # resent by the sweep minutes later. Redis answers every write anyway.
    "confirm_publish": env.bool("CELERY_BROKER_CONFIRM_PUBLISH", default=True),
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    # One more try rides out a dropped connection (the pool's socket was closed);
    # more would only make a request wait through an outage the sweep covers anyway.
    "max_retries": env.int("CELERY_TASK_PUBLISH_MAX_RETRIES", default=1),
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
# New orders reach the workers through drains (services/orchestration_drains.py): an
# order sends a message only when it takes one of this many slots, and each drain
# routes every flagged order it finds. More slots: more drains waiting at once (about
# one per worker process is enough, as a drain frees its slot when it starts); fewer
# messages either way than one an order.
ORCHESTRATION_DRAIN_SLOTS = env.int("ORCHESTRATION_DRAIN_SLOTS", default=2)
# A drain hands over to the next (rings again) after this many orders, so one task
# never holds a worker for long and other work in the queue gets its turn.
ORCHESTRATION_DRAIN_BATCH = env.int("ORCHESTRATION_DRAIN_BATCH", default=200)
for _name in ("ORCHESTRATION_DRAIN_SLOTS", "ORCHESTRATION_DRAIN_BATCH"):
    if globals()[_name] < 1:
        # 0 slots would send no drain at all, a batch of 0 hand over for ever.
        raise ImproperlyConfigured(f"{_name} must be at least 1, not {globals()[_name]}.")
CELERY_BEAT_SCHEDULE = {
    # Deadlines, waiting orders, due export and webhook retries, lost tasks.
    "sweep": {"task": "orchestration.tasks.sweep_task", "schedule": 60},
    # History that grows with orders (services/history.py): hourly, each run at most
    # ORCHESTRATION_HISTORY_TIME_BUDGET_SECONDS, the next one going on where it stopped.
    "purge-history": {
        "task": "orchestration.tasks.history_purge_task",
        "schedule": 60 * 60,
    },
}

# --- History retention (orchestration/services/history.py, docs/lifecycle.md) -------
# Timeline events (and the webhook delivery state they carry) of an order that ended
# (Completed or Cancelled) and has not changed for this many days, older than that,
# are purged; never an open order's, a Pending webhook's, or those of an order an open
# return refers to.
ORCHESTRATION_HISTORY_EVENTS_DAYS = env.int("ORCHESTRATION_HISTORY_EVENTS_DAYS", default=365)
# The same for plan transitions and the attempts of plan steps that are over.
ORCHESTRATION_HISTORY_PLANS_DAYS = env.int("ORCHESTRATION_HISTORY_PLANS_DAYS", default=365)
# Rows per batch: one short transaction each (1,000 rows: tens of milliseconds).
ORCHESTRATION_HISTORY_BATCH_SIZE = env.int("ORCHESTRATION_HISTORY_BATCH_SIZE", default=1_000)
# A run stops after this many seconds; the hourly beat run goes on from there.
ORCHESTRATION_HISTORY_TIME_BUDGET_SECONDS = env.float(
    "ORCHESTRATION_HISTORY_TIME_BUDGET_SECONDS", default=300.0
)
# A pause between batches (seconds), to leave the database more room; 0: none.
ORCHESTRATION_HISTORY_BATCH_PAUSE_SECONDS = env.float(
    "ORCHESTRATION_HISTORY_BATCH_PAUSE_SECONDS", default=0.0
)
# A folder: the purged rows are first appended there, as gzipped JSON lines per kind
# and run. Empty (the default): purged only.
ORCHESTRATION_ARCHIVE_DIR = env.str("ORCHESTRATION_ARCHIVE_DIR", default="")

# --- Request bodies ---------------------------------------------------------
# The largest body taken: a bigger API body is a 413 (orchestration.api.parsers), a
# bigger form a 400. The largest the API needs, a stock upsert of 10,000 items (its
# limit) with 100-character backend IDs, is 2.7 MB (2.9 pretty-printed): above
# Django's default of 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
# The most fields a form may send. The largest Suite form, a step group's edit page
# (sheets/plan_forms.py), sends 27 fields a step and 3 a dependency: 5,710 for the
# largest group (100 steps, 1,000 dependencies); Django's default, 1,000, would refuse
# a group of 37 steps.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 6_000

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous API call then gets 401 with WWW-Authenticate
    # rather than the 403 that session authentication alone would give.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orchestration.api.authentication.ExpiringTokenAuthentication",
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
    "NUM_PROXIES": NUM_PROXIES,
}
# An API token stops working this many hours after it was made (30 days by
# default); POST /api/auth/token/ then gives a new one.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=720)
# The OpenAPI schema, Swagger UI and ReDoc: for signed-in users only, unless set.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
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
    # No badge image from the public validator: every asset comes from this server.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "OrganizationUnitStatusEnum": "orchestration.models.OrganizationUnitStatus",
        "OrderStatusEnum": "orchestration.models.OrderStatus",
        "OrderLineStatusEnum": "orchestration.models.OrderLineStatus",
        "FulfillmentOptionEnum": "orchestration.models.FulfillmentOption",
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
            "class": "orchestration.integrations.exporters.FolderExporter",
            "folder": str(BASE_DIR / "var" / "exports" / name.lower()),
        }
        for name in ("ARVATO", "BONVER", "WAREHOUSE")
    },
)
# An automatic plan step's attempt still Running this many seconds after its step's
# timeout is taken for lost (its worker was killed, or its message lost): the next
# delivery of the step, or the sweep, marks it Lost and runs a new attempt with the
# same idempotency key (docs/plans.md, "Retries, fallout and lost workers").
ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS = env.int(
    "ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS", default=60
)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
# Two libraries are noisy where the suite runs without a broker (``make run``): with
# tasks inline, Celery logs "Task ... succeeded in 0.01s" at INFO into the web log, a
# line per task (six for the demo's orders, one per request that sends one); and the
# in-memory broker has no hostname, which kombu warns about on each new connection.
# Both are quieted there, at the level that keeps what matters: a task's failure is
# logged at ERROR. With a worker, its own log keeps the task lines, and a real
# broker's URL without a host stays a warning. LOG_LEVEL=DEBUG shows everything.
_QUIET_LOGGERS: dict[str, str] = {}
if LOG_LEVEL != "DEBUG":
    if CELERY_TASK_ALWAYS_EAGER:
        _QUIET_LOGGERS["celery.app.trace"] = "WARNING"
    if CELERY_BROKER_URL == "memory://":
        _QUIET_LOGGERS["kombu.connection"] = "ERROR"
# A refused request is one line, without its traceback; and Django's own console
# handler of the ``django`` logger goes, so that no line is printed twice
# (``orchestration/logs.py``).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals": {"()": "orchestration.logs.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL},
        **{name: {"level": level} for name, level in _QUIET_LOGGERS.items()},
    },
}
