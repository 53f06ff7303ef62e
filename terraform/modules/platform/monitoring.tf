# Alerts: a message was dead-lettered, dead letters are waiting, a function answers 5xx.

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  project      = var.project_id
  display_name = "SaludTech ${var.environment}: ${each.key}"
  type         = "email"
  labels = {
    email_address = each.key
  }
}

locals {
  alert_channels = [for channel in google_monitoring_notification_channel.email : channel.id]
  # Subscriptions on a dead-letter topic: a consumer's trigger, a held or a keep- one.
  dead_letter_subscriptions = concat(
    [for name, s in local.subscriptions : name if contains(local.dead_letter_topics, s.topic)],
    [for s in google_pubsub_subscription.unconsumed_dead_letters : s.name],
    [for name, p in module.topology.pull_subscriptions : name if contains(local.dead_letter_topics, p.topic)],
  )
}

resource "google_monitoring_alert_policy" "dead_lettered" {
  project               = var.project_id
  display_name          = "SaludTech ${var.environment}: messages dead-lettered"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "A trigger subscription gave up on a message"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.label.subscription_id = starts_with(\"trigger-\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A message failed every delivery attempt and went to its context's dead-letter topic. The subscription id names the function. See docs/deploy.md, Dead letters."
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  count                 = length(local.dead_letter_subscriptions) > 0 ? 1 : 0
  project               = var.project_id
  display_name          = "SaludTech ${var.environment}: dead letters waiting"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "Undelivered messages on a dead-letter subscription for 10 minutes"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = one_of(${join(", ", [for s in local.dead_letter_subscriptions : "\"${s}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "600s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Dead letters are waiting: either the dead-letter consumer is failing, or (keep- subscriptions) the context has no consumer yet. See docs/deploy.md, Dead letters."
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "function_errors" {
  count                 = length(local.functions) > 0 ? 1 : 0
  project               = var.project_id
  display_name          = "SaludTech ${var.environment}: function errors"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "A function answered 5xx more than ${var.function_error_threshold} times in 5 minutes"
    condition_threshold {
      # Every Cloud Run service of the project: a project holds one environment, and a
      # list of ~60 function names would outgrow the filter's length limit.
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.label.response_code_class = \"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.function_error_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A function keeps failing: its logs (Cloud Logging, resource cloud_run_revision, service_name = the function) say why. Transient errors are retried by Pub/Sub, so a few are normal."
  }

  depends_on = [google_project_service.api]
}
