"""The topology file (infra/topology.yaml) as typed, validated models.

The same YAML is read by Terraform (yamldecode) and by the local stack, so the models keep
its meaning: logical bucket names, topics, and functions with their triggers. A Pub/Sub or
GCS trigger of function F becomes a subscription named `trigger-<F>` (Eventarc's in the
cloud, the local bridge's here).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.local.attribute_filter import AttributeFilter, FilterSyntaxError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOPOLOGY_PATH = REPO_ROOT / "infra" / "topology.yaml"

GcsEventType = Literal[
    "OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_METADATA_UPDATE", "OBJECT_ARCHIVE"
]


class TopologyError(ValueError):
    """The topology file is unreadable or inconsistent."""


class _Strict(BaseModel):
    # A typo in a retry policy must fail loudly instead of silently using a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BucketNotification(_Strict):
    topic: str
    event_types: list[GcsEventType] = Field(
        default_factory=lambda: list[GcsEventType](["OBJECT_FINALIZE"])
    )


class Bucket(_Strict):
    lifecycle_delete_after_days: int | None = Field(default=None, ge=1)
    notifications: list[BucketNotification] = Field(default_factory=list)


class RetryPolicy(_Strict):
    # Pub/Sub's defaults when a subscription has a retry policy without explicit values.
    min_backoff_seconds: float = Field(default=10.0, gt=0)
    max_backoff_seconds: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_backoff_seconds < self.min_backoff_seconds:
            raise ValueError("max_backoff_seconds must be >= min_backoff_seconds")
        return self

    def backoff_after(self, failed_attempts: int) -> float:
        """Seconds to wait after the n-th failed attempt: exponential, capped like Pub/Sub."""
        exponent = max(failed_attempts - 1, 0)
        return float(min(self.max_backoff_seconds, self.min_backoff_seconds * 2.0**exponent))


class DeliveryPolicy(_Strict):
    """What Pub/Sub does with a message the function does not acknowledge."""

    ack_deadline_seconds: int = Field(default=60, ge=10, le=600)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_delivery_attempts: int = Field(default=5, ge=1, le=100)
    dead_letter_topic: str | None = None
    # Pub/Sub subscription filter syntax (attributes only), e.g. `attributes.kind = "x"`.
    # The emulator ignores filters, so the local bridge evaluates it.
    filter: str | None = None

    @model_validator(mode="after")
    def _filter_parses(self) -> DeliveryPolicy:
        if self.filter is not None:
            try:
                AttributeFilter.parse(self.filter)
            except FilterSyntaxError as error:
                raise ValueError(f"invalid filter {self.filter!r}: {error}") from error
        return self

    @property
    def attribute_filter(self) -> AttributeFilter | None:
        return AttributeFilter.parse(self.filter) if self.filter is not None else None


class PubsubTrigger(DeliveryPolicy):
    topic: str


class GcsTrigger(DeliveryPolicy):
    bucket: str
    event: Literal["finalized"] = "finalized"


class Trigger(_Strict):
    http: dict[str, object] | None = None
    pubsub: PubsubTrigger | None = None
    gcs: GcsTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        kinds = [kind for kind in ("http", "pubsub", "gcs") if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a trigger has exactly one of http, pubsub, gcs; got {kinds}")
        return self

    @property
    def kind(self) -> Literal["http", "pubsub", "gcs"]:
        if self.pubsub is not None:
            return "pubsub"
        if self.gcs is not None:
            return "gcs"
        return "http"


class Function(BaseModel):
    # Deployment knobs for Terraform (memory, timeout, ...) may be added without touching
    # the local stack, hence extra fields are allowed here only.
    model_config = ConfigDict(extra="allow", frozen=True)

    target: str
    trigger: Trigger

    @property
    def signature_type(self) -> Literal["http", "cloudevent"]:
        return "http" if self.trigger.kind == "http" else "cloudevent"


class TriggerSubscription(BaseModel):
    """One subscription the bridge pulls and delivers to one function (Eventarc's role)."""

    model_config = ConfigDict(frozen=True)

    name: str
    topic: str
    function: str
    target: str
    kind: Literal["pubsub", "gcs"]
    policy: DeliveryPolicy
    # For GCS triggers: the logical bucket whose OBJECT_FINALIZE notifications count.
    bucket: str | None = None


class IndexField(_Strict):
    field: str
    order: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class FirestoreIndex(_Strict):
    """A composite index, for Terraform: the emulator does not enforce indexes."""

    # The context owning the collection: the index is created in that context's database.
    context: str
    collection: str
    fields: list[IndexField] = Field(min_length=2)


class PullSubscription(_Strict):
    """A subscription nobody pushes from: messages wait there for a person to pull them."""

    name: str
    topic: str
    retention_days: int = Field(default=7, ge=1, le=31)


class Topology(_Strict):
    version: Literal[1] = 1
    buckets: dict[str, Bucket] = Field(default_factory=dict)
    topics: list[str] = Field(default_factory=list)
    pull_subscriptions: list[PullSubscription] = Field(default_factory=list)
    functions: dict[str, Function] = Field(default_factory=dict)
    firestore_indexes: list[FirestoreIndex] = Field(default_factory=list)
    # Deploy only (Terraform reads them; models at the end of this module).
    secrets: dict[str, SecretSpec] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    # A lambda: CloudSettings is defined below this class.
    cloud: CloudSettings = Field(default_factory=lambda: CloudSettings())  # noqa: PLW0108

    @model_validator(mode="after")
    def _deploy_references_resolve(self) -> Topology:
        problems = deploy_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _references_resolve(self) -> Topology:
        topics = set(self.topics)
        problems: list[str] = []
        if len(topics) != len(self.topics):
            problems.append("topics are listed twice")
        for bucket_name, bucket in self.buckets.items():
            problems += [
                f"bucket {bucket_name}: notification topic {n.topic} is not in topics"
                for n in bucket.notifications
                if n.topic not in topics
            ]
        problems += [
            f"pull subscription {held.name}: topic {held.topic} is not in topics"
            for held in self.pull_subscriptions
            if held.topic not in topics
        ]
        for name, function in self.functions.items():
            pubsub, gcs = function.trigger.pubsub, function.trigger.gcs
            policy: DeliveryPolicy | None = pubsub or gcs
            if pubsub is not None and pubsub.topic not in topics:
                problems.append(f"function {name}: topic {pubsub.topic} is not in topics")
            if policy is not None and policy.dead_letter_topic not in (None, *topics):
                problems.append(
                    f"function {name}: dead_letter_topic {policy.dead_letter_topic} "
                    "is not in topics"
                )
            if gcs is not None and self._finalize_topic(gcs.bucket) is None:
                # Locally the bridge sees uploads only through the bucket's notifications.
                problems.append(
                    f"function {name}: bucket {gcs.bucket} needs a notification with "
                    "OBJECT_FINALIZE so the local bridge can see uploads"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _finalize_topic(self, bucket: str) -> str | None:
        for notification in self.buckets.get(bucket, Bucket()).notifications:
            if "OBJECT_FINALIZE" in notification.event_types:
                return notification.topic
        return None

    def trigger_subscriptions(self) -> list[TriggerSubscription]:
        """Every subscription the bridge serves, one per event-triggered function."""
        result: list[TriggerSubscription] = []
        for name, function in self.functions.items():
            trigger = function.trigger
            if trigger.pubsub is not None:
                policy = DeliveryPolicy.model_validate(trigger.pubsub.model_dump(exclude={"topic"}))
                result.append(
                    TriggerSubscription(
                        name=f"trigger-{name}",
                        topic=trigger.pubsub.topic,
                        function=name,
                        target=function.target,
                        kind="pubsub",
                        policy=policy,
                    )
                )
            elif trigger.gcs is not None:
                topic = self._finalize_topic(trigger.gcs.bucket)
                assert topic is not None  # guaranteed by validation
                policy = DeliveryPolicy.model_validate(
                    trigger.gcs.model_dump(exclude={"bucket", "event"})
                )
                result.append(
                    TriggerSubscription(
                        name=f"trigger-{name}",
                        topic=topic,
                        function=name,
                        target=function.target,
                        kind="gcs",
                        policy=policy,
                        bucket=trigger.gcs.bucket,
                    )
                )
        return result

    def event_topics(self) -> list[str]:
        """Topics that carry integration events: `tail` taps them."""
        return [topic for topic in self.topics if topic.endswith("-events")]

    def notification_routes(self) -> list[tuple[str, BucketNotification]]:
        """(logical bucket, notification) pairs, in file order."""
        return [
            (bucket_name, notification)
            for bucket_name, bucket in self.buckets.items()
            for notification in bucket.notifications
        ]


def tap_subscription_name(topic: str) -> str:
    return f"tap-{topic}"


def load_topology(path: Path = DEFAULT_TOPOLOGY_PATH) -> Topology:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TopologyError(f"cannot read topology {path}: {error}") from error
    try:
        return Topology.model_validate(raw)
    except ValidationError as error:
        raise TopologyError(f"invalid topology {path}:\n{error}") from error


# ---- Deploy only: the keys Terraform reads (terraform/modules/topology) ----------------


class SecretSpec(_Strict):
    """A Secret Manager secret: the variable the code reads it from, and who gets it."""

    env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    # Contexts whose functions all get it mounted ("*" is every function), and single
    # functions that get it besides: a key only some functions of a context use goes to
    # those only (least privilege), once the others start without it.
    contexts: list[str] = Field(default_factory=list)
    functions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _granted_to_someone(self) -> SecretSpec:
        if not self.contexts and not self.functions:
            raise ValueError("a secret is mounted into `contexts`, `functions` or both")
        return self


class Schedule(_Strict):
    """A Cloud Scheduler job: a POST with an OIDC token to an HTTP function."""

    function: str
    schedule: str = Field(pattern=r"^\S+( \S+){4}$")  # cron, five fields
    time_zone: str = "Etc/UTC"
    path: str = Field(default="/", pattern=r"^/")
    body: dict[str, object] = Field(default_factory=dict)


class ContextAccess(_Strict):
    """What a context's functions may use beyond Firestore and their own topics."""

    buckets: dict[str, str] = Field(default_factory=dict)  # logical bucket -> IAM role
    publishes: list[str] = Field(default_factory=list)
    # Internal HTTP functions, by name or `*<suffix>` (every HTTP function whose name ends
    # with it, e.g. `*-queries-http`: a context's doors added later are covered too).
    invokes: list[str] = Field(default_factory=list)
    # Signed GCS URLs, through IAM signBlob as itself: the functions of the context that
    # sign (the token creator role on their own account), or `true` for all of them.
    signs_urls: bool | list[str] = False


class CloudBucket(_Strict):
    versioning: bool = False
    noncurrent_delete_after_days: int | None = Field(default=None, ge=1)
    retention_days: int | None = Field(default=None, ge=1)


class FirestoreTtl(_Strict):
    """A collection Firestore empties by a TTL policy, in the database of its context."""

    context: str
    collection: str
    field: str  # a Timestamp field


# Memory sizes as Cloud Functions takes them: 512Mi, 1Gi, 256M, 2G.
_MEMORY = r"^\d+(\.\d+)?(Mi|Gi|M|G)$"
# Cloud Run's CPU counts: a fraction below 1 (concurrency 1 then), or one of these.
_WHOLE_CPUS = (1, 2, 4, 6, 8)
# Least memory a CPU count takes, and most memory it allows (Cloud Run: CPU limits), MiB.
_CPU_MEMORY_MIB = {1: (0, 4096), 2: (0, 8192), 4: (2048, 16384), 6: (4096, 24576), 8: (4096, 32768)}


class CapacitySpec(_Strict):
    """Deployment knobs of one function; what is not given is the module's default."""

    memory: str | None = Field(default=None, pattern=_MEMORY)
    cpu: float | None = Field(default=None, ge=0.08, le=8)
    concurrency: int | None = Field(default=None, ge=1, le=1000)
    min_instances: int | None = Field(default=None, ge=0, le=1000)
    max_instances: int | None = Field(default=None, ge=1, le=1000)
    timeout_seconds: int | None = Field(default=None, ge=1, le=3600)


class Capacity(_Strict):
    """What a function runs with in the cloud, as terraform/modules/topology resolves it:
    `cloud.capacity.<function>`, else the same key on the function's entry, else these
    defaults (cpu None: Cloud Functions derives it from memory, a fraction below 2Gi)."""

    memory: str = "512Mi"
    cpu: float | None = None
    concurrency: int = 1
    min_instances: int = 0
    max_instances: int = 10
    timeout_seconds: int = 60


def memory_mib(memory: str) -> float:
    """512Mi -> 512.0; 1Gi -> 1024.0; 256M -> 244.1 (M and G are powers of ten)."""
    match = re.fullmatch(r"([\d.]+)(Mi|Gi|M|G)", memory)
    if match is None:
        raise ValueError(f"{memory} is not a memory size such as 512Mi or 1Gi")
    scale = {"Mi": 1.0, "Gi": 1024.0, "M": 1e6 / 2**20, "G": 1e9 / 2**20}[match.group(2)]
    return float(match.group(1)) * scale


class CloudSettings(_Strict):
    public_functions: list[str] = Field(default_factory=list)
    firestore_ttl: list[FirestoreTtl] = Field(default_factory=list)
    access: dict[str, ContextAccess] = Field(default_factory=dict)
    buckets: dict[str, CloudBucket] = Field(default_factory=dict)
    capacity: dict[str, CapacitySpec] = Field(default_factory=dict)


# The bounded contexts of the product, by their Python name (functions/<context>). Terraform
# derives the same set from the topology (deploy_contexts, with `-` for `_`); a unit test
# keeps the two in step.
CONTEXTS = (
    "api",
    "identity",
    "ingestion",
    "subscriptions",
    "data_services",
    "notifications",
    "sagas",
)
DATABASE_PREFIX = "saludtech-"


def context_of(target: str) -> str:
    """The context an entry point belongs to: the longest context name prefixing it, so
    `data_services_x` is of data_services even if a context `data` existed."""
    matches = [c for c in CONTEXTS if target == c or target.startswith(f"{c}_")]
    if not matches:
        raise ValueError(f"{target} does not start with a context name ({', '.join(CONTEXTS)})")
    return max(matches, key=len)


def database_of(context: str) -> str:
    """The Firestore database a context owns, as Terraform names it. Database ids need 4 to
    63 characters (`api` alone is too short), hence the prefix; `-` for `_` as in topics."""
    return DATABASE_PREFIX + context.replace("_", "-")


def deploy_contexts(topology: Topology) -> set[str]:
    """The contexts as Terraform derives them: one per `<context>-dead-letter` topic, and
    HTTP-only ones (the public API) named by their `cloud.access` entry."""
    with_messages = {
        t.removesuffix("-dead-letter") for t in topology.topics if t.endswith("-dead-letter")
    }
    return with_messages | set(topology.cloud.access)


def invoked_functions(topology: Topology, context: str) -> set[str]:
    """The HTTP functions the functions of `context` may call, as Terraform grants them:
    the names `cloud.access.<context>.invokes` gives, and the HTTP functions its
    `*<suffix>` entries match."""
    access = topology.cloud.access.get(context)
    if access is None:
        return set()
    http = {n for n, f in topology.functions.items() if f.trigger.kind == "http"}
    called: set[str] = set()
    for wanted in access.invokes:
        if wanted.startswith("*"):
            called |= {n for n in http if n.endswith(wanted[1:])}
        else:
            called.add(wanted)
    return called


def signing_functions(topology: Topology) -> set[str]:
    """The functions that sign URLs through IAM signBlob, as Terraform derives them."""
    signing: set[str] = set()
    for name, function in topology.functions.items():
        context = _deploy_context_of(topology, function.target)
        access = topology.cloud.access.get(context or "")
        if access is None:
            continue
        wanted = access.signs_urls
        if wanted is True or (isinstance(wanted, list) and name in wanted):
            signing.add(name)
    return signing


def secret_grants(topology: Topology) -> set[tuple[str, str]]:
    """(function, secret) pairs: the secrets mounted into each function, as Terraform
    derives them from `secrets:` (its contexts' functions and the functions it names)."""
    grants: set[tuple[str, str]] = set()
    for name, function in topology.functions.items():
        context = _deploy_context_of(topology, function.target)
        for secret_id, spec in topology.secrets.items():
            if "*" in spec.contexts or context in spec.contexts or name in spec.functions:
                grants.add((name, secret_id))
    return grants


def _deploy_context_of(topology: Topology, target: str) -> str | None:
    """The deploy context (`data-services`) a target (`data_services_x`) belongs to, as
    Terraform matches it: the longest context whose name, `-` for `_`, prefixes it."""
    matches = [c for c in deploy_contexts(topology) if target.startswith(f"{c.replace('-', '_')}_")]
    return max(matches, key=len) if matches else None


_CAPACITY_KNOBS = tuple(CapacitySpec.model_fields)


def capacity_of(topology: Topology, name: str) -> Capacity:
    """The capacity `name` runs with in the cloud (see Capacity); raises ValueError when a
    knob of its entry is not valid."""
    function = topology.functions[name]
    given = {k: v for k, v in (function.model_extra or {}).items() if k in _CAPACITY_KNOBS}
    spec = topology.cloud.capacity.get(name)
    if spec is not None:
        given |= spec.model_dump(exclude_none=True)
    delivery = function.trigger.pubsub or function.trigger.gcs
    defaults = {"timeout_seconds": delivery.ack_deadline_seconds if delivery else 60}
    # Validated as the YAML gives it first (ranges, the memory's form), then resolved.
    CapacitySpec.model_validate(given)
    return Capacity.model_validate({**defaults, **given})


def capacity_problems(topology: Topology) -> list[str]:
    """Capacities Cloud Functions (Cloud Run underneath) would refuse at apply time."""
    problems: list[str] = []
    for name, function in topology.functions.items():
        extra, spec = function.model_extra or {}, topology.cloud.capacity.get(name)
        twice = sorted(
            k for k in _CAPACITY_KNOBS if k in extra and spec and k in spec.model_fields_set
        )
        if twice:
            problems.append(f"function {name}: {twice} given in functions and cloud.capacity")
        try:
            capacity = capacity_of(topology, name)
        except ValidationError as error:
            problems.append(f"function {name}: capacity: {error.errors()[0]['msg']}")
            continue
        problems += [f"function {name}: {p}" for p in _capacity_problems(capacity)]
        delivery = function.trigger.pubsub or function.trigger.gcs
        if delivery is not None and capacity.timeout_seconds > delivery.ack_deadline_seconds:
            # Past its ack deadline Pub/Sub pushes the message again: two runs at once.
            problems.append(
                f"function {name}: timeout_seconds {capacity.timeout_seconds} is longer than "
                f"its trigger's ack_deadline_seconds {delivery.ack_deadline_seconds}"
            )
    return problems


def _capacity_problems(capacity: Capacity) -> list[str]:
    cpu, memory = capacity.cpu, memory_mib(capacity.memory)
    problems: list[str] = []
    if capacity.min_instances > capacity.max_instances:
        problems.append("min_instances is above max_instances")
    # Without cpu, Cloud Functions gives a fraction of one below 2Gi: say cpu >= 1.
    if capacity.concurrency > 1 and (cpu is None or cpu < 1):
        problems.append("concurrency > 1 needs cpu >= 1")
    if cpu is None:
        return problems
    if cpu >= 1 and cpu not in _WHOLE_CPUS:
        problems.append(f"cpu {cpu:g}: above 1, one of {', '.join(map(str, _WHOLE_CPUS))}")
    elif cpu >= 1:
        least, most = _CPU_MEMORY_MIB[int(cpu)]
        if not least <= memory <= most:
            problems.append(f"cpu {cpu:g} takes {least} to {most} MiB, not {capacity.memory}")
    elif (cpu < 0.5 and memory > 512) or memory > 1024:
        problems.append(f"cpu {cpu:g} is too little for {capacity.memory}")
    return problems


def dangling_functions(topology: Topology) -> list[str]:
    """Functions the deploy-only keys name that the topology does not hold. Not refused on
    loading: a topology cut down to some contexts (tests/e2e/notifications_stack.py) keeps
    the other contexts' entries, and Terraform ignores them as well; a unit test refuses
    them in infra/topology.yaml, where they would be typos."""
    functions = set(topology.functions)
    named = [
        *(f"secret {s}: {f}" for s, spec in topology.secrets.items() for f in spec.functions),
        *(
            f"cloud.access.{c}.signs_urls: {f}"
            for c, access in topology.cloud.access.items()
            for f in (access.signs_urls if isinstance(access.signs_urls, list) else [])
        ),
        *(f"cloud.capacity: {f}" for f in topology.cloud.capacity),
    ]
    return [
        f"{where} is not a function" for where in named if where.rsplit(": ", 1)[1] not in functions
    ]


def deploy_problems(topology: Topology) -> list[str]:
    """References of the deploy-only keys that do not resolve (Terraform would fail later)."""
    topics, contexts = set(topology.topics), deploy_contexts(topology)
    http = {n for n, f in topology.functions.items() if f.trigger.kind == "http"}
    problems = [
        f"schedule {job}: {s.function} is not an HTTP function"
        for job, s in topology.schedules.items()
        if s.function not in http
    ]
    problems += [
        f"cloud.public_functions: {name} is not an HTTP function"
        for name in topology.cloud.public_functions
        if name not in http
    ]
    problems += [
        f"secret {secret_id}: context {c} has no {c}-dead-letter topic nor cloud.access entry"
        for secret_id, spec in topology.secrets.items()
        for c in spec.contexts
        if c != "*" and c not in contexts
    ]
    problems += capacity_problems(topology)
    for context, access in topology.cloud.access.items():
        # A function signs as itself: only a function of this context can be named here.
        problems += [
            f"cloud.access.{context}: signs_urls: {f} is not a function of {context}"
            for f in (access.signs_urls if isinstance(access.signs_urls, list) else [])
            if f in topology.functions
            and _deploy_context_of(topology, topology.functions[f].target) != context
        ]
        problems += [
            f"cloud.access.{context}: bucket {b} is not in buckets"
            for b in access.buckets
            if b not in topology.buckets
        ]
        problems += [
            f"cloud.access.{context}: role {role} is not an IAM role (roles/...)"
            for role in access.buckets.values()
            if not role.startswith("roles/")
        ]
        problems += [
            f"cloud.access.{context}: topic {t} is not in topics"
            for t in access.publishes
            if t not in topics
        ]
        problems += [
            f"cloud.access.{context}: {f} is not an HTTP function"
            for f in access.invokes
            if not f.startswith("*") and f not in http
        ]
        # Terraform matches a pattern by suffix only: `*` anywhere else would not mean what
        # it says, and a pattern matching nothing is a typo that would grant nothing.
        problems += [
            f"cloud.access.{context}: {f} is not `*<suffix>` matching an HTTP function"
            for f in access.invokes
            if f.startswith("*")
            and (
                re.fullmatch(r"\*[a-z0-9-]+", f) is None
                or not any(name.endswith(f[1:]) for name in http)
            )
        ]
    problems += [
        f"cloud.buckets: {b} is not in buckets"
        for b in topology.cloud.buckets
        if b not in topology.buckets
    ]
    # Each index and TTL policy lives in its context's database: the context must exist.
    problems += [
        f"firestore_indexes: {i.collection}: context {i.context} has no {i.context}-dead-letter "
        "topic nor cloud.access entry"
        for i in topology.firestore_indexes
        if i.context not in contexts
    ]
    problems += [
        f"cloud.firestore_ttl: {ttl.collection}: context {ttl.context} has no "
        f"{ttl.context}-dead-letter topic nor cloud.access entry"
        for ttl in topology.cloud.firestore_ttl
        if ttl.context not in contexts
    ]
    ttl_keys = [(ttl.context, ttl.collection) for ttl in topology.cloud.firestore_ttl]
    problems += [
        f"cloud.firestore_ttl: {collection} of {context} is given twice"
        for context, collection in sorted(set(ttl_keys))
        if ttl_keys.count((context, collection)) > 1
    ]
    return problems


# The Topology fields above name these models before they exist.
Topology.model_rebuild()
