"""Imported at start-up by every Python process of a medtune run with several CPU processes (gloo DDP): medtune
puts this folder on PYTHONPATH for those runs only.

accelerate gives each CPU rank the device `cpu:0`, and transformers resumes the optimizer state with
`torch.load(..., map_location=args.device)` when the world size is above 1. torch restores storages tagged "cpu"
but not "cpu:0", so resuming a CPU DDP run fails with
  RuntimeError: don't know how to restore data location of torch.storage.UntypedStorage (tagged with cpu:0)
(transformers 5.5.4, accelerate 1.11.0, torch 2.14.1). This registers, through torch's public
`torch.serialization.register_package`, a deserializer that reads `cpu:N` as the CPU. It changes nothing else.
"""

try:
    import torch.serialization as _serialization
except Exception:  # noqa: BLE001 - a process without torch (a shell helper) has nothing to patch
    _serialization = None


def _tag(_obj):
    return None


def _restore(obj, location):
    if isinstance(location, str) and location.startswith("cpu:"):
        return obj
    return None


if _serialization is not None:
    _serialization.register_package(25, _tag, _restore)
