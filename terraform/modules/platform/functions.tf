# Cloud Functions 2nd gen, one per topology entry, all built from the same zip (main.py
# re-exports every entry point). Event functions have no Eventarc trigger: our own push
# subscriptions (pubsub.tf) call them, because an Eventarc-managed subscription cannot get a
# dead-letter topic from Terraform. Their entry points are declared @cloud_event, and the
# Functions Framework turns a Pub/Sub push body into the same `messagePublished` CloudEvent
# Eventarc sends.

resource "google_cloudfunctions2_function" "function" {
  for_each    = local.functions
  project     = var.project_id
  location    = var.region
  name        = each.key
  description = "${each.value.kind} function ${each.value.target} of ${coalesce(each.value.context, "no context")}"
  labels      = merge(local.labels, { context = replace(coalesce(each.value.context, "none"), "_", "-") })

  build_config {
    runtime         = var.python_runtime
    entry_point     = each.value.target
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    timeout_seconds                  = each.value.timeout_seconds
    all_traffic_on_latest_revision   = true
    # Pub/Sub pushes and Cloud Scheduler count as internal traffic; HTTP functions are
    # reachable from outside but answer only callers with the invoker role (invokers.tf).
    ingress_settings = each.value.kind == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"

    # shared/config.py reads these; `cloud` makes it refuse development keys and settings.
    # The deployer's settings may override the derived ones (a custom domain), not the last.
    environment_variables = merge(
      local.derived_settings,
      var.function_environment,
      each.value.signs_urls ? { SALUDTECH_API_SIGNING_SERVICE_ACCOUNT = google_service_account.function[each.key].email } : {},
      # The account buyers grant on their buckets, named in a refused probe's detail.
      each.value.context == "data-services" ? { SALUDTECH_DELIVERY_SERVICE_ACCOUNT = google_service_account.delivery.email } : {},
      {
        GOOGLE_CLOUD_PROJECT    = var.project_id
        SALUDTECH_ENVIRONMENT   = "cloud"
        SALUDTECH_BUCKET_PREFIX = var.bucket_prefix
        LOG_EXECUTION_ID        = "true"
      },
    )

    # Values stay in Secret Manager; the function reads the latest version at start.
    dynamic "secret_environment_variables" {
      for_each = { for key, grant in module.topology.secret_grants : key => grant if grant.function == each.key }
      content {
        key        = secret_environment_variables.value.env
        project_id = var.project_id
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value.secret].secret_id
        version    = "latest"
      }
    }
  }

  # A function starts only once it may read its secrets.
  depends_on = [
    google_secret_manager_secret_iam_member.function_reads_secret,
    google_project_iam_member.builder,
    google_project_service.api,
  ]
}

locals {
  function_uri = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].uri }

  # Every gen2 function also answers at https://<region>-<project>.cloudfunctions.net/<name>:
  # known before any function exists, so one function's settings can name another's URL
  # (function_uri cannot: a function's settings would depend on the functions themselves).
  function_base_url = "https://${var.region}-${var.project_id}.cloudfunctions.net"
  derived_settings = merge(
    # The api calls the contexts' doors at their own URLs, with an ID token for that URL;
    # without it the doors would run inside the api, which may open no context's database.
    { SALUDTECH_DOOR_URL_TEMPLATE = "${local.function_base_url}/{function}" },
    # Links sent to people (confirmation links) point at the public API.
    module.topology.front_door == null ? {} : { SALUDTECH_PUBLIC_URL = "${local.function_base_url}/${module.topology.front_door}" },
  )
}
