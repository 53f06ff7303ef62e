# The prod environment: one project, the shared platform module, prod's settings.
# State lives in a GCS bucket created once by hand (docs/deploy.md):
#   terraform -chdir=terraform/environments/prod init -backend-config=bucket=<state bucket>

terraform {
  required_version = ">= 1.7"

  backend "gcs" {
    prefix = "saludtech/prod"
  }

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.20, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

module "platform" {
  source = "../../modules/platform"

  environment        = "prod"
  project_id         = var.project_id
  region             = var.region
  firestore_location = var.firestore_location
  topology_path      = "${path.root}/../../../infra/topology.yaml"
  source_dir         = "${path.root}/../../.."
  bucket_prefix      = "${var.project_id}-prod"
  kms_key_name       = var.kms_key_name
  alert_emails       = var.alert_emails
  # The settings shared/config.py requires in the cloud besides the secrets.
  function_environment = merge({ SALUDTECH_PAYMENT_GATEWAY = "stripe" }, var.settings)
  # prod keeps its data
  deletion_protection = true
}

# The pipeline's smoke test calls one internal function with the deployer's identity.
resource "google_cloud_run_v2_service_iam_member" "smoke" {
  count    = var.deployer_service_account == null ? 0 : 1
  project  = var.project_id
  location = var.region
  name     = var.smoke_function
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.deployer_service_account}"

  depends_on = [module.platform]
}
