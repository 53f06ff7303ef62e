variable "environment" {
  description = "Short name of the environment (dev, prod): labels, display names, the state prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment is a short lowercase name such as dev or prod."
  }
}

variable "project_id" {
  description = "The Google Cloud project everything is created in."
  type        = string
}

variable "region" {
  description = "Region of the functions, buckets, scheduler jobs and the source bucket."
  type        = string
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region or a multi-region such as nam5)."
  type        = string
}

variable "topology_path" {
  description = "Path of infra/topology.yaml."
  type        = string
}

variable "source_dir" {
  description = "The repository root: main.py, requirements.txt and the packages they import are zipped from here."
  type        = string
}

variable "source_excludes" {
  description = "Paths (globs, relative to source_dir) that are not part of the deployed code: tools, tests, local state."
  type        = list(string)
  default = [
    ".git/**", ".venv/**", ".venv-tools/**", ".local/**", ".build/**", ".deploy/**", ".hypothesis/**",
    ".pytest_cache/**", ".mypy_cache/**", ".ruff_cache/**", "**/__pycache__/**", "*.egg-info/**",
    "tests/**", "benchmarks/**", "docs/**", "terraform/**", "tools/**", "build/**", "dist/**",
    # The local stack is not deployed (docs/decisions/0001); without pyproject.toml the
    # build installs requirements.txt and nothing else.
    "infra/**", "pyproject.toml", "requirements-dev.txt", "requirements-bench.txt", "Makefile",
    "cloudbuild.yaml", "*.md",
  ]
}

variable "bucket_prefix" {
  description = "Buckets are `<bucket_prefix>-<logical name>`; bucket names are global, so include the project id."
  type        = string
}

variable "python_runtime" {
  description = "Cloud Functions runtime of every function."
  type        = string
  default     = "python311"
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/.../cryptoKeys/...) for buckets, topics, secrets and Firestore; null keeps Google-managed keys."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse to delete the Firestore database and buckets holding data (true in prod)."
  type        = bool
  default     = true
}

variable "inbox_ttl_field" {
  description = "Timestamp field of an inbox record after which Firestore deletes it (TTL policy); must be a Timestamp, not a string."
  type        = string
  default     = "expires_at"
}

variable "alert_emails" {
  description = "Who is told about dead letters and function errors."
  type        = list(string)
  default     = []
}

variable "function_error_threshold" {
  description = "5xx answers of one function in 5 minutes above which an alert opens (transient errors are retried, so a few are normal)."
  type        = number
  default     = 5
}

variable "function_environment" {
  description = "Plain (non-secret) settings of shared/config.py given to every function, e.g. SALUDTECH_PAYMENT_GATEWAY."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Labels added to every labelled resource."
  type        = map(string)
  default     = {}
}
