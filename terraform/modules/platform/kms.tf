# With a customer-managed key (var.kms_key_name), the Google service agents that encrypt our
# topics, buckets, secrets and database must be allowed to use it; without one, nothing.

locals {
  kms_agents = var.kms_key_name == null ? toset([]) : toset([
    local.pubsub_agent,
    "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}",
    "serviceAccount:service-${data.google_project.this.number}@gcp-sa-secretmanager.iam.gserviceaccount.com",
    "serviceAccount:service-${data.google_project.this.number}@gcp-sa-firestore.iam.gserviceaccount.com",
  ])
}

resource "google_kms_crypto_key_iam_member" "service_agents_encrypt" {
  for_each      = local.kms_agents
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.key
}
