"""splunk-autodoc: collect Splunk configuration bundles from an inbox, store and record them."""

__version__ = "0.1.0"
