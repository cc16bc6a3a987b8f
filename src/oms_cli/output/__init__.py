"""How results look: one format enum, one dispatcher, the JSON contract, Rich views, Markdown, CSV and streams."""
