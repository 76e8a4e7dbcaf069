#!/bin/sh
# Stands in for nvidia-smi when plan.mjs runs on a machine without a GPU: the one H100 the configs are run on
# (the line its real nvidia-smi printed for --query-gpu=index,name,memory.total --format=csv,noheader,nounits).
echo "0, NVIDIA H100 80GB HBM3, 81559"
