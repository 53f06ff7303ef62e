"""Sample data generators (synthetic DICOM with planted PHI) for tests, benchmarks and demos."""
