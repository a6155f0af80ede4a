"""The generation stage: run a model over the eval set and write `model_outputs.json`.

Model configs, the lazy backend registry (openai, vllm, vllm-server), Ray placement, resumable runs.

May import: `records`, `endpoint`, `config`, `progress`, `errors`.
"""
