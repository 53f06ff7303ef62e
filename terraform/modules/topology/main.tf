# infra/topology.yaml, decoded and normalised into the maps the platform module iterates.
#
# This module has no provider and no resource on purpose: every default lives here once
# (the same defaults as infra/local/topology.py, so the cloud behaves like the local
# bridge), and adding a function, topic or bucket to the YAML is all it takes.

locals {
  topology = yamldecode(file(var.topology_path))

  topics      = toset(try(local.topology.topics, []))
  raw_buckets = try(local.topology.buckets, {})
  raw_fns     = try(local.topology.functions, {})
  cloud       = try(local.topology.cloud, {})
  access      = try(local.cloud.access, {})

  # Every context with messages owns a `<context>-dead-letter` topic (ARCHITECTURE.md); an
  # HTTP-only one (the public API) is named by its `cloud.access` entry.
  contexts = setunion(
    [for t in local.topics : trimsuffix(t, "-dead-letter") if endswith(t, "-dead-letter")],
    keys(local.access),
  )

  # Each context owns one Firestore database and only its functions may open it. Database ids
  # are 4 to 63 characters of [a-z0-9-] (`api` alone is too short), hence the prefix and `-`
  # for `_`; shared/service/context.py names the same database at run time.
  databases = { for c in local.contexts : c => "saludtech-${replace(c, "_", "-")}" }

  # A function belongs to the context its entry point is named after
  # (`ingestion_on_upload` -> ingestion); the longest match wins, so `data_services_x`
  # is not taken for a context called `data`. Null when none matches: the platform module
  # refuses such a function (a precondition), since it could not be given least privilege.
  function_context = {
    for name, f in local.raw_fns : name => try(
      split(":", reverse(sort([
        for c in local.contexts : format("%03d:%s", length(c), c)
        if startswith(f.target, "${replace(c, "-", "_")}_")
      ]))[0])[1],
      null
    )
  }

  function_kind = {
    for name, f in local.raw_fns : name => (
      contains(keys(f.trigger), "pubsub") ? "pubsub" : (contains(keys(f.trigger), "gcs") ? "gcs" : "http")
    )
  }

  # The delivery fields of a pubsub or gcs trigger (try: the two objects differ in shape).
  delivery = {
    for name, f in local.raw_fns : name => try(f.trigger.pubsub, f.trigger.gcs)
    if local.function_kind[name] != "http"
  }

  public_functions = toset(try(local.cloud.public_functions, []))
  # The public function links sent to people point at (confirmation links): the one
  # public function, or null when there are several (the deployer names the URL then).
  front_door = length(local.public_functions) == 1 ? one(local.public_functions) : null

  # cloud.capacity: knobs per function, beside those a function entry may carry.
  capacity = try(local.cloud.capacity, {})

  functions = {
    for name, f in local.raw_fns : name => {
      target  = f.target
      kind    = local.function_kind[name]
      context = local.function_context[name]
      # The only database it may open: its context's (null when it has no context).
      database = try(local.databases[local.function_context[name]], null)
      public   = contains(local.public_functions, name)
      # The read side (CQRS: `<context>_queries_http`) only reads: no publishing, Firestore
      # and buckets read-only. An entry may say otherwise with `read_only: false`.
      read_only = try(f.read_only, endswith(f.target, "_queries_http"))
      # Signs GCS URLs through IAM signBlob as itself (functions hold no private key):
      # named in its context's `signs_urls` list, or every function of it for `true`.
      signs_urls = try(
        contains(local.access[local.function_context[name]].signs_urls, name),
        local.access[local.function_context[name]].signs_urls == true,
        false,
      )
      # Service account ids are 6-30 characters: long function names keep a hash suffix
      # so two long names never collide.
      account_id = length(name) <= 27 ? "fn-${name}" : "fn-${substr(name, 0, 18)}-${substr(sha1(name), 0, 8)}"
      # Deployment knobs: cloud.capacity.<function>, else the function entry's, else the
      # defaults (infra/local/topology.py: Capacity, the same; the local stack ignores them).
      memory        = try(local.capacity[name].memory, f.memory, "512Mi")
      cpu           = try(tostring(local.capacity[name].cpu), tostring(f.cpu), null)
      concurrency   = try(local.capacity[name].concurrency, f.concurrency, 1)
      min_instances = try(local.capacity[name].min_instances, f.min_instances, 0)
      max_instances = try(local.capacity[name].max_instances, f.max_instances, 10)
      # A pushed message is redelivered once its ack deadline passes, so an event function
      # gets that long to answer; HTTP functions answer people, quickly.
      timeout_seconds = try(
        local.capacity[name].timeout_seconds,
        f.timeout_seconds,
        local.delivery[name].ack_deadline_seconds,
        60,
      )
    }
  }

  # The topic each bucket's OBJECT_FINALIZE notifications go to (the GCS trigger's source).
  finalize_topic = {
    for b, spec in local.raw_buckets : b => try([
      for n in try(spec.notifications, []) : n.topic
      if contains(try(n.event_types, ["OBJECT_FINALIZE"]), "OBJECT_FINALIZE")
    ][0], null)
  }

  # One push subscription `trigger-<function>` per event-triggered function, as locally.
  subscriptions = {
    for name, d in local.delivery : "trigger-${name}" => {
      function              = name
      kind                  = local.function_kind[name]
      topic                 = local.function_kind[name] == "pubsub" ? d.topic : local.finalize_topic[d.bucket]
      bucket                = try(local.buckets[d.bucket].name, null)
      ack_deadline_seconds  = try(d.ack_deadline_seconds, 60)
      min_backoff_seconds   = try(d.retry.min_backoff_seconds, 10)
      max_backoff_seconds   = try(d.retry.max_backoff_seconds, 600)
      max_delivery_attempts = try(d.max_delivery_attempts, 5)
      dead_letter_topic     = try(d.dead_letter_topic, null)
      # A GCS trigger sees only its bucket's finalize notifications, as the local bridge does.
      filter = local.function_kind[name] == "pubsub" ? try(d.filter, null) : join(" AND ", compact([
        try("(${d.filter})", ""),
        "attributes.eventType = \"OBJECT_FINALIZE\"",
        "attributes.bucketId = \"${var.bucket_prefix}-${d.bucket}\"",
      ]))
    }
  }

  # Subscriptions nobody pushes from: messages wait there for a person to pull them.
  pull_subscriptions = {
    for held in try(local.topology.pull_subscriptions, []) : held.name => {
      topic          = held.topic
      retention_days = try(held.retention_days, 7)
    }
  }

  buckets = {
    for b, spec in local.raw_buckets : b => {
      name                         = "${var.bucket_prefix}-${b}"
      lifecycle_delete_after_days  = try(spec.lifecycle_delete_after_days, null)
      versioning                   = try(local.cloud.buckets[b].versioning, false)
      noncurrent_delete_after_days = try(local.cloud.buckets[b].noncurrent_delete_after_days, null)
      retention_days               = try(local.cloud.buckets[b].retention_days, null)
    }
  }

  bucket_notifications = {
    for n in flatten([
      for b, spec in local.raw_buckets : [
        for note in try(spec.notifications, []) : {
          key         = "${b}/${note.topic}"
          bucket      = b
          topic       = note.topic
          event_types = try(note.event_types, ["OBJECT_FINALIZE"])
        }
      ]
    ]) : n.key => n
  }

  # Keyed by what the index is, so reordering the YAML list changes nothing in the cloud;
  # each in the database of the context owning its collection (`context:`).
  firestore_indexes = {
    for index in try(local.topology.firestore_indexes, []) :
    "${index.context}/${index.collection}(${join(",", [for f in index.fields : "${f.field} ${try(f.order, "ASCENDING")}"])})" => {
      context    = index.context
      database   = try(local.databases[index.context], null)
      collection = index.collection
      fields     = [for f in index.fields : { field = f.field, order = try(f.order, "ASCENDING") }]
    }
  }

  # shared/service/processing.py names each context's inbox `<context>_inbox`, in the
  # context's own database: context -> collection.
  inbox_collections = { for c in local.contexts : c => "${replace(c, "-", "_")}_inbox" }

  # Other collections Firestore empties by TTL (cloud.firestore_ttl), each in its context's
  # database, e.g. the api's rate-limit shards on `expires_at`. Keyed `<context>/<collection>`:
  # two databases may hold collections of the same name.
  ttl_fields = {
    for ttl in try(local.cloud.firestore_ttl, []) : "${ttl.context}/${ttl.collection}" => {
      context    = ttl.context
      database   = try(local.databases[ttl.context], null)
      collection = ttl.collection
      field      = ttl.field
    }
  }

  # Mounted into every function of `contexts` ("*": every function) and the `functions`
  # named: a key goes only where the code reads it.
  secrets = {
    for id, s in try(local.topology.secrets, {}) : id => {
      env       = s.env
      contexts  = toset(try(s.contexts, []))
      functions = toset(try(s.functions, []))
    }
  }

  schedules = {
    for job, s in try(local.topology.schedules, {}) : job => {
      function  = s.function
      schedule  = s.schedule
      time_zone = try(s.time_zone, "Etc/UTC")
      path      = try(s.path, "/")
      body      = try(jsonencode(s.body), "{}")
    }
  }

  # What each function's service account is granted: nothing else.
  publish_grants = {
    for g in flatten([
      for name, f in local.functions : [
        for topic in setunion(
          [for suffix in ["commands", "events", "dead-letter"] : "${f.context}-${suffix}" if contains(local.topics, "${f.context}-${suffix}")],
          try(local.access[f.context].publishes, []),
        ) : { key = "${name}/${topic}", function = name, topic = topic }
      ] if f.context != null && !f.read_only
    ]) : g.key => g
  }

  bucket_grants = {
    for g in flatten([
      for name, f in local.functions : [
        for bucket, role in try(local.access[f.context].buckets, {}) :
        { key = "${name}/${bucket}", function = name, bucket = bucket, role = f.read_only ? "roles/storage.objectViewer" : role }
      ] if f.context != null
    ]) : g.key => g
  }

  secret_grants = {
    for g in flatten([
      for name, f in local.functions : [
        for id, s in local.secrets : { key = "${name}/${id}", function = name, secret = id, env = s.env }
        if contains(s.contexts, "*") || contains(s.contexts, coalesce(f.context, "-")) || contains(s.functions, name)
      ]
    ]) : g.key => g
  }

  # Internal HTTP functions a context's functions call with their own identity: the names
  # `cloud.access.<context>.invokes` gives, and every HTTP function a `*<suffix>` entry
  # matches (`*-queries-http`: each context's query door, those added later too).
  http_functions = [for name, kind in local.function_kind : name if kind == "http"]
  invoked = {
    for context, a in local.access : context => distinct(flatten([
      for wanted in try(a.invokes, []) : startswith(wanted, "*") ? [
        for h in local.http_functions : h if endswith(h, substr(wanted, 1, -1))
      ] : [wanted]
    ]))
  }
  invoke_grants = {
    for g in flatten([
      for name, f in local.functions : [
        for callee in try(local.invoked[f.context], []) : { key = "${name}/${callee}", caller = name, callee = callee }
      ] if f.context != null
    ]) : g.key => g
  }
}
