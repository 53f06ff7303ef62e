# Who may call which function. A gen2 function is a Cloud Run service of the same name, so
# invocation is Cloud Run's run.invoker on that service. Only functions the topology lists in
# cloud.public_functions are open to everyone; every other call carries a service identity.

locals {
  scheduled_functions = toset([for job in module.topology.schedules : job.function])
  pushed_functions    = toset([for s in local.subscriptions : s.function])
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes" {
  for_each = local.pushed_functions
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes" {
  for_each = local.scheduled_functions
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# A function calls another only where the topology says so (cloud.access.<context>.invokes:
# the public API calls the contexts' HTTP doors with an ID token of its own account).
resource "google_cloud_run_v2_service_iam_member" "function_invokes" {
  for_each = module.topology.invoke_grants
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.callee].name
  role     = "roles/run.invoker"
  member   = google_service_account.function[each.value.caller].member
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = toset([for name, f in local.functions : name if f.public])
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  # The public API authenticates its callers itself (JWT); it is the product's front door.
  member = "allUsers"
}
