# One Secret Manager secret per key the code reads (topology `secrets:`). Terraform creates
# the secrets, never their versions: values are added out of band (docs/deploy.md), so no
# value is ever in this repository or in the Terraform state.

resource "google_secret_manager_secret" "secret" {
  for_each  = module.topology.secrets
  project   = var.project_id
  secret_id = each.key
  labels    = merge(local.labels, { env = lower(replace(each.value.env, "_", "-")) })

  replication {
    auto {
      dynamic "customer_managed_encryption" {
        for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
        content {
          kms_key_name = customer_managed_encryption.value
        }
      }
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.service_agents_encrypt]
}
