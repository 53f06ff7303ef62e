"""Names of the ingestion context: its CloudEvent source, topics, buckets and collections."""

CONTEXT = "ingestion"
SOURCE = "/saludtech/ingestion"
COMMANDS_TOPIC = "ingestion-commands"
EVENTS_TOPIC = "ingestion-events"
DEAD_LETTER_TOPIC = "ingestion-dead-letter"

# Logical buckets (Settings.bucket() adds the prefix).
INGEST_BUCKET = "ingest"
ANONYMIZED_BUCKET = "anonymized"
QUARANTINE_BUCKET = "quarantine"

# Firestore collections (Settings.collection() adds the prefix).
IMAGES = "ingestion_images"  # the catalogue: one document per anonymized image
REJECTIONS = "ingestion_rejections"  # one document per quarantined object
PACKAGES = "ingestion_packages"  # one document per zip package (a study)
PACKAGE_ENTRIES = "ingestion_package_entries"  # one per entry done: no hot package document
INBOX = "ingestion_inbox"
PACKAGE_BLOCKS = "ingestion_package_blocks"  # one per completed block of entries
