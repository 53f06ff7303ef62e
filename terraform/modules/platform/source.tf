# One zip of the source tree, named by its hash: a code change is a new object name, which
# is a change of every function's build source, so Terraform redeploys them; an unchanged
# tree plans no change at all.

data "archive_file" "source" {
  type        = "zip"
  source_dir  = var.source_dir
  excludes    = var.source_excludes
  output_path = "${path.root}/.build/source-${var.environment}.zip"
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:access is recorded by Cloud Audit Logs (Data Access, audit.tf), not by legacy usage-log buckets
  project                     = var.project_id
  name                        = "${var.bucket_prefix}-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  # The build copies the zip when a function is deployed; old zips are only a rollback aid.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "source-${data.archive_file.source.output_sha256}.zip"
  source = data.archive_file.source.output_path
}
