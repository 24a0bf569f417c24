"""Reading Splunk configuration out of stored bundles: archives, the .conf grammar, typed rows."""
