"""The Teams app package: fill the manifest template, zip it, and validate packages offline."""
