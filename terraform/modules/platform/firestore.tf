# One Firestore database per context (`saludtech-<context>`, module.topology.databases): each
# context owns its data, and only its own functions' service accounts may open it
# (service_accounts.tf). In each, the composite indexes of the collections the context owns
# (the emulator enforces none, the cloud refuses the queries without them), a TTL policy on
# the context's inbox, longer-lived than any redelivery (docs/decisions/0003), and on the
# collections `cloud.firestore_ttl` names (the api's rate-limit shards).

resource "google_firestore_database" "context" {
  for_each                          = module.topology.databases
  project                           = var.project_id
  name                              = each.value
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  dynamic "cmek_config" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = cmek_config.value
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.service_agents_encrypt]
}

# The `(default)` database every context shared before: Terraform forgets it without deleting
# it (in dev too), so its data stays until it has been copied into the contexts' databases
# (docs/deploy.md) and someone deletes it on purpose. No function may open it any more.
removed {
  from = google_firestore_database.main

  lifecycle {
    destroy = false
  }
}

resource "google_firestore_index" "index" {
  for_each    = module.topology.firestore_indexes
  project     = var.project_id
  database    = google_firestore_database.context[each.value.context].name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.field
      order      = fields.value.order
    }
  }
}

resource "google_firestore_field" "inbox_ttl" {
  for_each   = module.topology.inbox_collections
  project    = var.project_id
  database   = google_firestore_database.context[each.key].name
  collection = each.value
  field      = var.inbox_ttl_field

  ttl_config {}

  # Nobody queries the expiry: no single-field index, no index writes.
  index_config {}
}

resource "google_firestore_field" "ttl" {
  for_each   = module.topology.ttl_fields
  project    = var.project_id
  database   = google_firestore_database.context[each.value.context].name
  collection = each.value.collection
  field      = each.value.field

  ttl_config {}

  # Nobody queries the expiry: no single-field index, no index writes.
  index_config {}
}
