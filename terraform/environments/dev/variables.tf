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

variable "smoke_function" {
  description = "The HTTP function the pipeline's smoke test calls after a deploy (the public API once it exists)."
  type        = string
  default     = "subscriptions-queries-http"
}

variable "smoke_path" {
  description = "The path, with its query, the smoke test GETs on smoke_function; it must answer 200."
  type        = string
  default     = "/subscriptions?client_code=smoke-test&limit=1"
}

variable "deployer_service_account" {
  description = "Email of the service account Cloud Build deploys as; it may call smoke_function (null: nobody)."
  type        = string
  default     = null
}
