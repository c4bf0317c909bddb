"""The case service's read-model schema revisions (services/infra/migrations.py)."""
