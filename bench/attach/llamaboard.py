"""What LLaMA Board's monitor does on every 2-second refresh (webui/runner.py -> get_trainer_info): read the whole
trainer_log.jsonl and json.loads every line. Usage: python3 llamaboard.py LOG REPEATS -> one JSON line."""
import json
import resource
import sys
import time

path, repeats = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(repeats):
    t = time.perf_counter()
    trainer_log = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            trainer_log.append(json.loads(line))
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"refreshMsMedian": round(times[len(times) // 2] * 1000), "records": len(trainer_log),
                  "maxRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
