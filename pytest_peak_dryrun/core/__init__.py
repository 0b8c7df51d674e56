"""The domain: never imports pytest, syrupy or any network module (DESIGN.md, Layers)."""
