"""Executors: each experiment isolated in a process group with hard limits."""
