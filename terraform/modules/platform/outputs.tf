output "function_urls" {
  description = "The HTTPS endpoint of every function, by name."
  value       = local.function_uri
}

output "function_service_accounts" {
  description = "The runtime service account of every function, by name."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "buckets" {
  description = "The global name of every bucket, by logical name."
  value       = { for name, b in google_storage_bucket.bucket : name => b.name }
}

output "source_object" {
  description = "The deployed source zip (named by its hash)."
  value       = google_storage_bucket_object.source.name
}

output "delivery_service_account" {
  description = "The account a buyer grants roles/storage.objectCreator on its bucket for a `bucket` delivery (docs: the refused probe's detail names it too)."
  value       = google_service_account.delivery.email
}
