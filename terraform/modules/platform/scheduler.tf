# Cloud Scheduler jobs of the topology (`schedules:`), e.g. the saga tick: each POSTs to an
# HTTP function with an OIDC token of the scheduler identity.

resource "google_cloud_scheduler_job" "job" {
  for_each         = module.topology.schedules
  project          = var.project_id
  region           = var.region
  name             = each.key
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = "60s"

  # A tick that fails is not retried: the next one comes at the next schedule.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${local.function_uri[each.value.function]}${each.value.path}"
    body        = base64encode(each.value.body)
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.function_uri[each.value.function]
    }
  }

  lifecycle {
    precondition {
      condition     = try(local.functions[each.value.function].kind, "") == "http"
      error_message = "Schedule ${each.key}: ${each.value.function} is not an HTTP function of the topology."
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes]
}
