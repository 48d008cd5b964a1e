"""Demo data: realistic synthetic Sentinel product records for tests, benchmarks and demos."""

from eohub.demo.records import generate_products

__all__ = ["generate_products"]
