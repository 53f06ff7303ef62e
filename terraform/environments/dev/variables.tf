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

variable "settings" {
  description = "More plain (non-secret) settings of shared/config.py for every function, e.g. SALUDTECH_SMTP_HOST (mail needs it); SALUDTECH_PUBLIC_URL overrides the public API's URL."
  type        = map(string)
  default     = {}
}

variable "smoke_public_function" {
  description = "The public function the smoke test GETs anonymously after a deploy (200 expected)."
  type        = string
  default     = "api"
}

variable "smoke_public_path" {
  description = "The path the smoke test GETs on smoke_public_function."
  type        = string
  default     = "/v1/openapi.json"
}

variable "smoke_function" {
  description = "An internal HTTP function the smoke test calls with the deployer's identity (200 expected) and without (401/403 expected)."
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
