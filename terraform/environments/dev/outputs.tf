output "function_urls" {
  description = "The HTTPS endpoint of every function, by name."
  value       = module.platform.function_urls
}

output "buckets" {
  description = "The global name of every bucket, by logical name."
  value       = module.platform.buckets
}

output "smoke_public_url" {
  description = "What the pipeline's smoke test GETs anonymously."
  value       = "${module.platform.function_urls[var.smoke_public_function]}${var.smoke_public_path}"
}

output "smoke_url" {
  description = "What the pipeline's smoke test GETs."
  value       = "${module.platform.function_urls[var.smoke_function]}${var.smoke_path}"
}

output "smoke_audience" {
  description = "The audience of the smoke test's identity token: the function's URL."
  value       = module.platform.function_urls[var.smoke_function]
}
