# Topics, and our own push subscription `trigger-<function>` per event-triggered function,
# with the topology's ack deadline, retry policy, filter and dead-letter topic.

resource "google_pubsub_topic" "topic" {
  for_each     = module.topology.topics
  project      = var.project_id
  name         = each.key
  labels       = local.labels
  kms_key_name = var.kms_key_name
  # Dead letters wait here to be replayed (docs/deploy.md) even with no subscriber.
  message_retention_duration = contains(local.dead_letter_topics, each.key) ? "604800s" : null

  depends_on = [google_kms_crypto_key_iam_member.service_agents_encrypt]
}

resource "google_pubsub_subscription" "trigger" {
  for_each = local.subscriptions
  project  = var.project_id
  name     = each.key
  topic    = google_pubsub_topic.topic[each.value.topic].id
  labels   = merge(local.labels, { function = each.value.function })

  ack_deadline_seconds       = each.value.ack_deadline_seconds
  filter                     = each.value.filter
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = "" # never expire, however quiet the topic
  }

  retry_policy {
    minimum_backoff = "${each.value.min_backoff_seconds}s"
    maximum_backoff = "${each.value.max_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic[each.value.dead_letter_topic].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  push_config {
    # The topic in the path lets the Functions Framework fill the CloudEvent's source.
    push_endpoint = "${local.function_uri[each.value.function]}/projects/${var.project_id}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.function_uri[each.value.function]
    }
  }

  lifecycle {
    precondition {
      condition     = each.value.dead_letter_topic != null
      error_message = "Subscription ${each.key}: the topology gives it no dead_letter_topic; in the cloud every subscription has one."
    }
    precondition {
      condition     = each.value.max_delivery_attempts >= 5 && each.value.max_delivery_attempts <= 100
      error_message = "Subscription ${each.key}: Pub/Sub accepts max_delivery_attempts between 5 and 100."
    }
    precondition {
      condition     = each.value.topic != null
      error_message = "Subscription ${each.key}: its bucket has no OBJECT_FINALIZE notification topic."
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.push_invokes]
}

# Held for people (topology `pull_subscriptions`): nobody pushes from them, so they have no
# retry or dead-letter policy; messages wait, up to their retention, to be pulled.
resource "google_pubsub_subscription" "pull" {
  for_each                   = module.topology.pull_subscriptions
  project                    = var.project_id
  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "${each.value.retention_days * 86400}s"

  expiration_policy {
    ttl = ""
  }
}

# Until a dead-letter topic has a consumer (`<context>-record-dead-letter`) or a held pull
# subscription, a topic with no subscription would drop what dies: this one keeps it for 7
# days. The plan that adds the consumer removes it.
resource "google_pubsub_subscription" "unconsumed_dead_letters" {
  for_each                   = setsubtract(local.dead_letter_topics, setunion(local.consumed_topics, local.held_topics))
  project                    = var.project_id
  name                       = "keep-${each.key}"
  topic                      = google_pubsub_topic.topic[each.key].id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub's own agent forwards undeliverable messages: it publishes to the dead-letter topic
# and acknowledges them on the source subscription.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  for_each = local.dead_letter_topics
  project  = var.project_id
  topic    = google_pubsub_topic.topic[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks" {
  for_each     = google_pubsub_subscription.trigger
  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
