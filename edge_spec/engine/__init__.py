"""The decoding engine: numpy only, backend-agnostic."""
