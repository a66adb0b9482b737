"""A real loopback HTTP server that speaks the OpenAI chat-completions and Anthropic messages protocols.

Import it as `from llmfake.server import FakeLLM, Reply`: tests/ is on sys.path through tests/conftest.py.
"""
