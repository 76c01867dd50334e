"""The catalogue of mutating actions (never bound to the LLM; run only via approved proposals)."""
