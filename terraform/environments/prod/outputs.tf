output "function_urls" {
  description = "The HTTPS endpoint of every function, by name."
  value       = module.platform.function_urls
}

output "buckets" {
  description = "The global name of every bucket, by logical name."
  value       = module.platform.buckets
}

output "smoke_url" {
  description = "What the pipeline's smoke test GETs: the function's URL and the path."
  value       = "${module.platform.function_urls[split("/", var.smoke_path)[0]]}/${join("/", slice(split("/", var.smoke_path), 1, length(split("/", var.smoke_path))))}"
}
