"""Python side of internvl-opt: reference checks against Hugging Face's
InternVL in PyTorch, and helpers to read what the C++ tools write."""
