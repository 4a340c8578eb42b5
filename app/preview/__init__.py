"""A server-side preview of a pass, drawn the way Wallet shows it."""

from app.preview.barcodes import BarcodeError, barcode_png
from app.preview.layout import PassPreview, preview_model

__all__ = ["BarcodeError", "PassPreview", "barcode_png", "preview_model"]
