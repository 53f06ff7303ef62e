output "topics" {
  description = "Every topic, by name."
  value       = local.topics
}

output "contexts" {
  description = "The bounded contexts, one per `<context>-dead-letter` topic."
  value       = local.contexts
}

output "databases" {
  description = "The Firestore database of every context: context -> database id."
  value       = local.databases
}

output "functions" {
  description = "Every function: entry point, trigger kind, context, service account id, knobs."
  value       = local.functions
}

output "subscriptions" {
  description = "The push subscription `trigger-<function>` of every event-triggered function."
  value       = local.subscriptions
}

output "pull_subscriptions" {
  description = "Every pull subscription held for people, with its topic and retention."
  value       = local.pull_subscriptions
}

output "buckets" {
  description = "Every bucket by logical name: global name, lifecycle, versioning, retention."
  value       = local.buckets
}

output "bucket_notifications" {
  description = "Every bucket notification, keyed `<bucket>/<topic>`."
  value       = local.bucket_notifications
}

output "firestore_indexes" {
  description = "Every composite index, keyed by context, collection and fields, with its context's database."
  value       = local.firestore_indexes
}

output "inbox_collections" {
  description = "The inbox collection of every context, by context (a TTL policy each, in its database)."
  value       = local.inbox_collections
}

output "ttl_fields" {
  description = "Other collections with a TTL policy (cloud.firestore_ttl), keyed `<context>/<collection>`: context, database, collection, Timestamp field."
  value       = local.ttl_fields
}

output "secrets" {
  description = "Every Secret Manager secret the code reads: the environment variable and the contexts."
  value       = local.secrets
}

output "schedules" {
  description = "Every Cloud Scheduler job: the HTTP function it calls, cron, time zone, path, body."
  value       = local.schedules
}

output "publish_grants" {
  description = "(function, topic) pairs: the topics each function may publish to."
  value       = local.publish_grants
}

output "bucket_grants" {
  description = "(function, bucket, role) triples: the buckets each function may use."
  value       = local.bucket_grants
}

output "secret_grants" {
  description = "(function, secret, env) triples: the secrets mounted into each function."
  value       = local.secret_grants
}

output "invoke_grants" {
  description = "(caller, callee) pairs: the internal HTTP functions each function may call."
  value       = local.invoke_grants
}

output "front_door" {
  description = "The public function links sent to people point at: the one of cloud.public_functions, or null when there are several."
  value       = local.front_door
}
