"""The book and recorded-run companion: pipeline, record, tables, figures, statistics."""
