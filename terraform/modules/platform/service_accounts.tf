# One service account per function, granted exactly what module.topology derives for it;
# plus the identities that push to, schedule and build the functions.

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = each.value.account_id
  display_name = "Function ${each.key} (${var.environment})"
  description  = "Runtime identity of the ${each.key} function; nothing else runs as it."

  lifecycle {
    precondition {
      condition     = each.value.context != null
      error_message = "Function ${each.key}: its target ${each.value.target} does not start with a context name (<context>_...), so its privileges cannot be derived."
    }
  }
}

# Pub/Sub signs its pushes as this account (OIDC); it may invoke the event functions only.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "pubsub-push-${var.environment}"
  display_name = "Pub/Sub push to the functions (${var.environment})"
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "scheduler-${var.environment}"
  display_name = "Cloud Scheduler jobs calling functions (${var.environment})"
}

# Builds the functions' images, instead of the default compute account (an editor).
resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "function-builder-${var.environment}"
  display_name = "Builds the functions' images (${var.environment})"
}

# What a function build needs: read the staged source, push the image, write build logs.
# The source is read from the buckets Cloud Functions stages it in, and from no other (the
# image buckets hold PHI).
resource "google_project_iam_member" "builder" {
  for_each = {
    "roles/logging.logWriter"       = ""
    "roles/artifactregistry.writer" = ""
    "roles/storage.objectViewer"    = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\") || resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.source.name}\")"
  }
  project = var.project_id
  role    = each.key
  member  = google_service_account.builder.member

  dynamic "condition" {
    for_each = each.value == "" ? [] : [each.value]
    content {
      title      = "function sources only"
      expression = condition.value
    }
  }
}

# Each function may open its own context's database and no other: Firestore's datastore roles
# exist only on the project, so the grant carries the IAM condition Firestore documents for
# per-database access (resource.name=="projects/<project>/databases/<database>"). Firestore
# has no per-collection IAM: the read side reads, everything else reads and writes.
resource "google_project_iam_member" "function_firestore" {
  for_each = local.functions
  project  = var.project_id
  role     = each.value.read_only ? "roles/datastore.viewer" : "roles/datastore.user"
  member   = google_service_account.function[each.key].member

  condition {
    title       = "${each.value.context} database only"
    description = "The ${each.key} function opens the database of its context, ${each.value.context}, and no other."
    expression  = "resource.name==\"projects/${var.project_id}/databases/${google_firestore_database.context[each.value.context].name}\""
  }
}

resource "google_pubsub_topic_iam_member" "function_publishes" {
  for_each = module.topology.publish_grants
  project  = var.project_id
  topic    = google_pubsub_topic.topic[each.value.topic].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.function].member
}

resource "google_storage_bucket_iam_member" "function_uses_bucket" {
  for_each = module.topology.bucket_grants
  bucket   = google_storage_bucket.bucket[each.value.bucket].name
  role     = each.value.role
  member   = google_service_account.function[each.value.function].member
}

resource "google_secret_manager_secret_iam_member" "function_reads_secret" {
  for_each  = module.topology.secret_grants
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

# Older projects need the Pub/Sub agent to mint the push identity's OIDC tokens.
resource "google_service_account_iam_member" "pubsub_signs_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# A signed URL is signed by IAM signBlob with the function's own account.
resource "google_service_account_iam_member" "function_signs_urls" {
  for_each           = { for name, f in local.functions : name => f if f.signs_urls }
  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function[each.key].member
}

# The account a buyer grants roles/storage.objectCreator on its own bucket (a `bucket`
# delivery with cloud.bucket, functions/data_services): one stable email, whichever data
# services function writes there. It holds nothing in this project; the functions that
# write (not the read-only query door) act as it, through the token creator role on it.
resource "google_service_account" "delivery" {
  project      = var.project_id
  account_id   = "delivery-${var.environment}"
  display_name = "Delivers datasets into buyers' buckets (${var.environment})"
  description  = "Buyers grant it roles/storage.objectCreator on their buckets; the data services functions act as it to write there, and as nothing else."
}

resource "google_service_account_iam_member" "data_services_deliver_as" {
  for_each           = { for name, f in local.functions : name => f if f.context == "data-services" && !f.read_only }
  service_account_id = google_service_account.delivery.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function[each.key].member
}
