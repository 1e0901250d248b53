"""HTML reports of every analysis: one self-contained page each, rendered with autoescaping."""
