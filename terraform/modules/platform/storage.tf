# The topology's buckets: uniform access, no public access, lifecycle as in the topology,
# versioning and retention where cloud.buckets asks (never on ingest: a kept version of a
# deleted original would be PHI that lingers), optional CMEK.

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_storage_bucket" "bucket" {
  #checkov:skip=CKV_GCP_78:versioning is per bucket (cloud.buckets); ingest and quarantine hold PHI originals, which a kept noncurrent version would keep after their deletion
  #checkov:skip=CKV_GCP_62:access is recorded by Cloud Audit Logs (Data Access, audit.tf), not by legacy usage-log buckets
  for_each                    = module.topology.buckets
  project                     = var.project_id
  name                        = each.value.name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = merge(local.labels, { bucket = each.key })

  versioning {
    enabled = each.value.versioning
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.lifecycle_delete_after_days == null ? [] : [each.value.lifecycle_delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.noncurrent_delete_after_days == null ? [] : [each.value.noncurrent_delete_after_days]
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
        with_state                 = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "retention_policy" {
    for_each = each.value.retention_days == null ? [] : [each.value.retention_days]
    content {
      retention_period = retention_policy.value * 86400
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.service_agents_encrypt]
}

resource "google_pubsub_topic_iam_member" "gcs_agent_notifies" {
  for_each = toset([for n in module.topology.bucket_notifications : n.topic])
  project  = var.project_id
  topic    = google_pubsub_topic.topic[each.key].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# The GCS trigger: the bucket notifies its topic, whose `trigger-<function>` subscription
# (filtered on the bucket and OBJECT_FINALIZE) pushes to the function, with a dead-letter topic.
resource "google_storage_notification" "notification" {
  for_each = module.topology.bucket_notifications
  bucket   = google_storage_bucket.bucket[each.value.bucket].name
  topic    = google_pubsub_topic.topic[each.value.topic].id
  # NONE: the object's custom metadata (clinical history) never travels on the topic; the
  # function stats the object named by the notification's attributes.
  payload_format = "NONE"
  event_types    = each.value.event_types

  depends_on = [google_pubsub_topic_iam_member.gcs_agent_notifies]
}
