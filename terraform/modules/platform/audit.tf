# Data Access audit logs: who read or wrote which object (medical images, de-identified or
# not) and which secret version. Firestore's are left off: every document read would be a
# log entry, and its callers are our own functions, already in the request logs.

resource "google_project_iam_audit_config" "data_access" {
  for_each = toset(["storage.googleapis.com", "secretmanager.googleapis.com"])
  project  = var.project_id
  service  = each.key

  audit_log_config {
    log_type = "DATA_READ"
  }

  audit_log_config {
    log_type = "DATA_WRITE"
  }
}
