"""Records into terminal tables, Markdown and self-contained HTML reports."""
