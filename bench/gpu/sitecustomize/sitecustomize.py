# Caps the CUDA caching allocator of a Python process at MT_MEM_CAP_GIB (GiB), so a profile meant for a smaller
# card proves on a big one that it fits: an allocation past the cap raises out-of-memory as it would there.
# Put this folder on PYTHONPATH of the trainer only (bench/gpu-train/runner.py does, per variant).
import os

_cap = os.environ.get("MT_MEM_CAP_GIB")
if _cap:
    import torch

    if torch.cuda.is_available():
        _total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, float(_cap) * 2**30 / _total), 0)
