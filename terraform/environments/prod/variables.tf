variable "project_id" {
  description = "The Google Cloud project of this environment."
  type        = string
}

variable "region" {
  description = "Region of the functions, buckets and scheduler jobs."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the Firestore database."
  type        = string
  default     = "nam5"
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key for buckets, topics, secrets and Firestore (null: Google-managed)."
  type        = string
  default     = null
}

variable "alert_emails" {
  description = "Who is told about dead letters and function errors."
  type        = list(string)
  default     = []
}

variable "smoke_path" {
  description = "Function name and path the pipeline's smoke test GETs after a deploy, e.g. subscriptions-queries-http/subscriptions?client_code=smoke&limit=1."
  type        = string
  default     = "subscriptions-queries-http/subscriptions?client_code=smoke-test&limit=1"
}
