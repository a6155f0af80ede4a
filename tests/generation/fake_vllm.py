"""The stand-in vLLM module, for tests that place it in `sys.modules["vllm"]` of this process (tests of Ray put
its folder on PYTHONPATH instead, so that Ray's workers import it as `vllm`, as they would a real vLLM)."""

from .stand_in.vllm import CALLS, LLM, CompletionOutput, RequestOutput, SamplingParams

__all__ = ["CALLS", "LLM", "CompletionOutput", "RequestOutput", "SamplingParams"]
