# The services this module and the functions' code use (tests/unit/deploy/test_apis.py
# derives them from the resources and the code). serviceusage and cloudresourcemanager must
# already be on (docs/deploy.md, bootstrap): Terraform needs them to turn on the others.

resource "google_project_service" "api" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    # signBlob: the functions that sign GCS URLs (topology `signs_urls`) hold no key.
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  project = var.project_id
  service = each.key
  # Another stack in the project may use them too.
  disable_on_destroy = false
}
