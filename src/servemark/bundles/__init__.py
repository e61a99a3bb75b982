"""Run bundles: one file that carries a run from the machine that measured it to any store."""

from servemark.bundles.bundle import BundleError, ImportResult, export_from, export_run, import_bundles, read_manifest

__all__ = ["BundleError", "ImportResult", "export_from", "export_run", "import_bundles", "read_manifest"]
