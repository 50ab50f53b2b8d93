#!/usr/bin/env bash
# On a machine with a GPU (the device tool's, or your own): the GPU tests
# (cuBLAS against OpenBLAS, the time of each batch size on both) and the
# driver's readings (NVML) as tbms serve reports them for the demo house's
# gpu0. Prints what to copy into docs/benchmarks.md.
#   bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
nvidia-smi --query-gpu=index,name,driver_version,memory.total,pci.bus_id --format=csv || echo "no nvidia-smi"
build/backends_test --gtest_filter='GpuMatrixProduct.*'
build/text_backends_test --gtest_filter='*Gpu*'

work="$(mktemp -d)"
trap 'kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
TBMS_ADMIN_KEY=gpu-check-admin-0123456789 TBMS_NIANJIANQA_KEY=gpu-check-instance-0123456789 \
  build/tbms serve --house house/demo --port 0 --metrics-address 127.0.0.1:19107 >"$work/log" 2>&1 &
echo $! >"$work/pid"
for _ in $(seq 100); do grep -q serving "$work/log" && break; sleep 0.1; done
sleep 1.5  # one sample after start-up
cat "$work/log"
curl -s http://127.0.0.1:19107/metrics | grep '^tbms_device_gpu_' || echo "no GPU readings (see the log above)"
