# Everything this module creates is iterated from infra/topology.yaml, normalised once.
module "topology" {
  source        = "../topology"
  topology_path = var.topology_path
  bucket_prefix = var.bucket_prefix
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  labels = merge(var.labels, { product = "saludtech", environment = var.environment })

  functions     = module.topology.functions
  subscriptions = module.topology.subscriptions

  # Google-managed service agents that act on our resources.
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  dead_letter_topics = toset([for s in local.subscriptions : s.dead_letter_topic if s.dead_letter_topic != null])
  consumed_topics    = toset([for s in local.subscriptions : s.topic])
  held_topics        = toset([for p in module.topology.pull_subscriptions : p.topic])
}
