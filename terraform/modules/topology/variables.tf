variable "topology_path" {
  description = "Path of infra/topology.yaml, the one description the local stack reads too."
  type        = string
}

variable "bucket_prefix" {
  description = "Buckets are global names: the logical bucket `ingest` becomes `<bucket_prefix>-ingest`."
  type        = string
}
